"""The test support's way of running a command: nothing it started outlives it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.federation import NodeProcess, run_in_own_session
from tests.support.processes import process_running

# A parent that starts a child which would sleep for a minute, writes the child's pid,
# then waits for it: like `gateway demo` waiting on the nodes it started.
_PARENT = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open(sys.argv[1], "w").write(str(child.pid))
child.wait()
"""


def test_a_command_past_its_timeout_is_killed_with_every_process_it_started(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "child.pid"
    with pytest.raises(subprocess.TimeoutExpired):
        run_in_own_session([sys.executable, "-c", _PARENT, str(pid_file)], timeout_s=3.0)
    child = int(pid_file.read_text())
    for _ in range(100):  # reaped by init once its group is killed
        if not process_running(child):
            break
        time.sleep(0.05)
    assert not process_running(child)


def test_a_command_that_ends_gives_its_exit_code_and_output(tmp_path: Path) -> None:
    script = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    result = run_in_own_session([sys.executable, "-c", script], timeout_s=30.0, cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")


# A process that ignores SIGTERM, as a node stuck in its stop would, with the fault
# handler `gateway serve` enables (on its stderr, the node's log).
_DEAF = """
import faulthandler, signal, sys, time
faulthandler.enable(file=sys.stderr)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
def waiting_for_ever():
    time.sleep(60)
waiting_for_ever()
"""


def test_a_node_that_does_not_stop_on_sigterm_is_aborted_and_its_stacks_quoted(
    tmp_path: Path,
) -> None:
    log = tmp_path / "node.log"
    with log.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", _DEAF], stdout=subprocess.PIPE, stderr=stderr
        )
    assert child.stdout is not None
    assert child.stdout.readline() == b"ready\n"
    node = NodeProcess("330500", tmp_path / "330500.toml", child, 0, log)
    try:
        with pytest.raises(subprocess.TimeoutExpired) as stuck:
            node.terminate(timeout_s=1.0)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    # Aborted: the fault handler wrote the stack it was stuck in, and the error quotes it.
    assert child.returncode == -6
    (note,) = stuck.value.__notes__
    assert note.startswith(
        "node 330500 after SIGTERM, then SIGABRT; its log ends:\nFatal Python error: Aborted"
    )
    assert "line 7 in waiting_for_ever" in note
