"""谁产生、谁负责 at a node: who may change a record, and who may file its next version.

Run on the in-process federation harness: real stores, keys and use cases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.core.errors import AccessDeniedError
from gateway.core.principal import Principal, Role
from gateway.core.statements import StatusKind
from gateway.node.config import FederationSettings
from gateway.node.intake import IntakeOutcome, Submission
from gateway.store import AuditFilter
from tests.support.federation import Keystore
from tests.support.harness import InProcessFederation, department, keystore_for, migrated_template
from tests.support.records import debtor_fields, penalty_fields

NATIONAL, ZHEJIANG, HUZHOU = "000000", "330000", "330500"
NODES = (NATIONAL, ZHEJIANG, HUZHOU)
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
COURT = Principal(Role.DEPARTMENT, HUZHOU, "court-office", "court", "1" * 64, "in-process")
ADMIN = Principal(Role.ADMIN, HUZHOU, "credit-admin", None, "2" * 64, "in-process")


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    return keystore_for(tmp_path_factory.mktemp("keys"), NODES)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def fed(tmp_path: Path, keystore: Keystore, template: Path) -> Iterator[InProcessFederation]:
    federation = InProcessFederation.build(
        tmp_path, keystore, NODES, settings=FederationSettings(), template=template
    )
    try:
        yield federation
    finally:
        federation.close()


def _filed(fed: InProcessFederation, i: int = 1) -> str:
    [result] = fed[HUZHOU].submit(
        [Submission("1", "admin_penalty", penalty_fields(i, decided=DECIDED))]
    )
    assert result.outcome is IntakeOutcome.ACCEPTED
    return result.record_id


def test_another_department_cannot_revoke_a_record_it_did_not_file(
    fed: InProcessFederation,
) -> None:
    record_id = _filed(fed)
    with pytest.raises(AccessDeniedError, match="filed by department domain procurement") as caught:
        fed[HUZHOU].federation.statuses.issue(
            COURT, kind=StatusKind.REVOCATION, record_id=record_id, version=1, reason="x"
        )
    assert caught.value.rule == "status:filer-only"
    assert fed[HUZHOU].store.records.get(record_id, 1).status == "active"


def test_a_bare_status_call_cannot_suspend_or_repair(fed: InProcessFederation) -> None:
    record_id = _filed(fed)
    for kind in (StatusKind.SUSPENSION, StatusKind.REPAIR):
        with pytest.raises(AccessDeniedError) as caught:
            fed[HUZHOU].federation.statuses.issue(
                ADMIN, kind=kind, record_id=record_id, version=1, reason="x"
            )
        assert caught.value.rule == "status:procedure-only"
    assert fed[HUZHOU].store.records.get(record_id, 1).status == "active"


def test_the_filer_and_the_admin_may_revoke(fed: InProcessFederation) -> None:
    first, second = _filed(fed, 1), _filed(fed, 2)
    statuses = fed[HUZHOU].federation.statuses
    statuses.issue(
        department(HUZHOU), kind=StatusKind.REVOCATION, record_id=first, version=1, reason="void"
    )
    statuses.issue(
        ADMIN, kind=StatusKind.REVOCATION, record_id=second, version=1, reason="annulled"
    )
    store = fed[HUZHOU].store
    assert (store.records.get(first, 1).status, store.records.get(second, 1).status) == (
        "revoked",
        "revoked",
    )


def test_a_new_version_from_another_department_is_refused_and_audited(
    fed: InProcessFederation,
) -> None:
    fields = penalty_fields(5, decided=DECIDED)
    record_id = _filed(fed, 5)
    changed = {**fields, "CF_NR_FK": "9.99"}
    [refused] = fed[HUZHOU].submit([Submission("2", "admin_penalty", changed)], COURT)
    assert (refused.outcome, refused.record_id) == (IntakeOutcome.REFUSED, "")
    assert refused.reason == (
        f"record {record_id} was filed by department domain procurement: only that "
        "department may file a new version of it"
    )
    [denied] = [
        e.event
        for e in fed[HUZHOU].store.audit.events(AuditFilter(decision="denied"))
        if e.event.action == "intake.submit"
    ]
    assert (denied.actor, denied.rule, denied.records) == (
        "department:330500/court-office",
        "intake:filer-only",
        (f"{record_id}@2",),
    )
    [again] = fed[HUZHOU].submit([Submission("3", "admin_penalty", changed)])
    assert (again.outcome, again.version) == (IntakeOutcome.NEW_VERSION, 2)


def _debtor(i: int) -> Submission:
    return Submission(str(i), "dishonest_debtor", debtor_fields(i, decided=DECIDED))


def test_only_a_court_files_a_judgment_debtor(fed: InProcessFederation) -> None:
    national = fed[NATIONAL]
    [refused] = national.submit([_debtor(1)], department(NATIONAL))
    assert (refused.outcome, refused.reason) == (
        IntakeOutcome.REFUSED,
        "category dishonest_debtor (失信被执行人) is filed only by department domains court, "
        "not procurement",
    )
    [denied] = [
        e.event
        for e in national.store.audit.events(AuditFilter(decision="denied"))
        if e.event.action == "intake.submit"
    ]
    assert (denied.actor, denied.rule) == (
        "department:000000/procurement-office",
        "intake:filing-domain",
    )
    court = Principal(Role.DEPARTMENT, NATIONAL, "court-office", "court", "3" * 64, "in-process")
    [accepted] = national.submit([_debtor(1)], court)
    assert accepted.outcome is IntakeOutcome.ACCEPTED, accepted.reason
