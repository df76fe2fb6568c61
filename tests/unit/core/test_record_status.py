from gateway.core.record_status import (
    RecordStatus,
    is_disputed,
    is_forwardable,
    is_in_force,
    measure_end,
    measures_paused,
)
from gateway.core.statements import STATUS_EFFECT
from gateway.store import RecordStatus as StoreRecordStatus


def test_one_status_type_for_core_and_store() -> None:
    assert StoreRecordStatus is RecordStatus
    assert set(STATUS_EFFECT.values()) <= set(RecordStatus)


def test_predicates_name_each_status() -> None:
    assert {s for s in RecordStatus if is_in_force(s)} == {
        RecordStatus.ACTIVE,
        RecordStatus.SUSPENDED,
        RecordStatus.DISPUTED,
    }
    assert {s for s in RecordStatus if is_forwardable(s)} == {
        RecordStatus.ACTIVE,
        RecordStatus.SUSPENDED,
        RecordStatus.DISPUTED,
        RecordStatus.CORRECTED,
    }
    assert {s for s in RecordStatus if is_disputed(s)} == {
        RecordStatus.SUSPENDED,
        RecordStatus.DISPUTED,
    }
    assert {s for s in RecordStatus if measures_paused(s)} == {RecordStatus.SUSPENDED}


def test_predicates_take_the_stored_text() -> None:
    assert is_in_force("active")
    assert not is_in_force("revoked")
    assert is_forwardable("corrected")
    assert not is_forwardable("expired")


def test_a_notices_measures_end_when_revoked_repaired_or_past_its_signed_exp() -> None:
    now = 1_750_000_000
    assert measure_end("revoked", now + 10, now) is RecordStatus.REVOKED
    assert measure_end("repaired", now + 10, now) is RecordStatus.REPAIRED
    assert measure_end("expired", now - 10, now) is RecordStatus.EXPIRED
    # The signed exp ends it at once, before any sweeper marks it.
    assert measure_end("active", now, now) is RecordStatus.EXPIRED
    assert measure_end("suspended", now - 1, now) is RecordStatus.EXPIRED
    assert measure_end("active", now + 1, now) is None
    assert measure_end("disputed", now + 1, now) is None
    # A correction hands the measures on to the corrected version.
    assert measure_end("corrected", now - 1, now) is None
