"""A write job's completion: the part of a Future's API the writer's callers use."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError

import pytest

from gateway.core.errors import StorageError
from gateway.store import Completion


def test_every_waiting_thread_gets_the_value_once_it_is_set() -> None:
    completion: Completion[str] = Completion()
    started = threading.Barrier(5)
    got: list[str] = []
    lock = threading.Lock()

    def wait() -> None:
        started.wait()
        value = completion.result()
        with lock:
            got.append(value)

    threads = [threading.Thread(target=wait) for _ in range(4)]
    for thread in threads:
        thread.start()
    started.wait()
    assert completion.set_running_or_notify_cancel() is True
    assert not completion.done()
    completion.set_result("stored")
    for thread in threads:
        thread.join()
    assert got == ["stored"] * 4
    assert completion.done()
    assert completion.result() == "stored"
    assert completion.exception() is None


def test_a_jobs_exception_is_raised_by_result_and_returned_by_exception() -> None:
    completion: Completion[None] = Completion()
    completion.set_running_or_notify_cancel()
    error = StorageError("store write job failed: disk full", transient=True)
    completion.set_exception(error)
    with pytest.raises(StorageError, match=r"^store write job failed: disk full$") as caught:
        completion.result()
    assert caught.value is error
    assert completion.exception() is error
    assert completion.done()
    assert not completion.cancelled()


def test_a_result_not_yet_known_times_out() -> None:
    completion: Completion[int] = Completion()
    with pytest.raises(TimeoutError, match=r"^the job did not finish within 0 s$"):
        completion.result(timeout=0)
    with pytest.raises(TimeoutError, match=r"^the job did not finish within 0 s$"):
        completion.exception(timeout=0)
    completion.set_running_or_notify_cancel()
    completion.set_result(7)
    assert completion.result(timeout=0) == 7


def test_a_job_cancelled_before_the_writer_takes_it_is_never_run() -> None:
    completion: Completion[int] = Completion()
    called: list[bool] = []
    completion.add_done_callback(lambda c: called.append(c.cancelled()))
    assert completion.cancel() is True
    assert completion.cancel() is True
    assert called == [True]
    assert completion.done()
    assert completion.cancelled()
    assert completion.set_running_or_notify_cancel() is False
    with pytest.raises(CancelledError):
        completion.result()
    with pytest.raises(CancelledError):
        completion.exception(timeout=0)


def test_a_job_the_writer_took_cannot_be_cancelled() -> None:
    completion: Completion[int] = Completion()
    assert completion.set_running_or_notify_cancel() is True
    assert completion.cancel() is False
    assert not completion.cancelled()
    completion.set_result(3)
    assert completion.cancel() is False
    assert completion.result() == 3


def test_callbacks_run_once_done_in_order_and_a_failing_one_does_not_stop_the_rest() -> None:
    completion: Completion[str] = Completion()
    seen: list[tuple[str, str]] = []

    def broken(_c: Completion[str]) -> None:
        raise RuntimeError("a broken callback")

    completion.add_done_callback(lambda c: seen.append(("first", c.result())))
    completion.add_done_callback(broken)
    completion.add_done_callback(lambda c: seen.append(("second", c.result())))
    assert seen == []
    completion.set_running_or_notify_cancel()
    completion.set_result("done")
    assert seen == [("first", "done"), ("second", "done")]
    # Added once done: called at once, on the adding thread.
    completion.add_done_callback(lambda c: seen.append(("late", c.result())))
    assert seen == [("first", "done"), ("second", "done"), ("late", "done")]
