"""Expiry: records past their signed exp are purged to tombstones on schedule, and audited."""

from __future__ import annotations

from gateway.node.expiry import ExpirySweeper
from gateway.store import RecordRow, Store
from gateway.store.audit import AuditFilter

NOW = 1_790_000_000


def _row(record_id: str, exp: int) -> RecordRow:
    return RecordRow(
        record_id=record_id,
        version=1,
        issuer="330500",
        category="admin_penalty",
        subject_type="legal_person",
        subject_key="91330502M00000051H",
        document_number=f"doc-{record_id}",
        status="active",
        iat=NOW - 1000,
        exp=exp,
        sd_jwt=f"header.payload.sig~{record_id}~",
        origin="local",
        stored_at=NOW - 1000,
        status_changed_at=NOW - 1000,
    )


def test_expired_records_become_tombstones_and_the_purge_is_audited(store: Store) -> None:
    store.records.put_many(
        [_row("Rold1", NOW - 10), _row("Rold2", NOW - 1), _row("Rlive", NOW + 60)]
    )
    sweeper = ExpirySweeper(
        node_id="330500", store=store, clock=lambda: NOW, interval_s=60, batch=1
    )

    assert sweeper.sweep() == 2

    for record_id in ("Rold1", "Rold2"):
        row = store.records.get(record_id)
        assert row.status == "expired"
        assert row.sd_jwt is None
        assert row.subject_key == ""
    assert store.records.get("Rlive").sd_jwt is not None
    events = store.audit.events(AuditFilter(action="records.expire"))
    purged = {r for e in events for r in e.event.records}
    assert purged == {"Rold1@1", "Rold2@1"}
    assert sweeper.sweep() == 0
