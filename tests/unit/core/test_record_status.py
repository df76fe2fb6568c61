from gateway.core.record_status import (
    RecordStatus,
    is_disputed,
    is_forwardable,
    is_in_force,
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
