"""Discipline use cases on the in-process federation, as the composition root adds them.

:mod:`tests.support.harness` builds each node's federation parts; a node served
by ``gateway serve`` also has its :class:`DisciplineService` and
:class:`RemedyService`. :func:`discipline_federation` adds them, and the helpers
issue list entries by the department that files each list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.core.discipline import CheckResult
from gateway.core.principal import Principal, Role
from gateway.core.records import CHINA_STANDARD_TIME
from gateway.node.catalog_files import load_packaged_catalog, load_packaged_measures
from gateway.node.discipline import DisciplineService
from gateway.node.intake import IntakeOutcome, Submission
from gateway.node.remedies import RemedyService
from gateway.node.revocations import Revocations
from gateway.store import Store
from gateway.store.discipline import ObjectionRow
from tests.support.federation import Keystore
from tests.support.harness import HarnessNode, InProcessFederation, department
from tests.support.records import company_code, debtor_fields, notice_fields

__all__ = [
    "NODES",
    "Federation",
    "Node",
    "admin",
    "court",
    "debtor",
    "debtor_with",
    "discipline_federation",
    "listed",
    "serious",
]

NATIONAL, ZHEJIANG, HUZHOU, LISHUI = "000000", "330000", "330500", "331100"
NODES = (NATIONAL, ZHEJIANG, HUZHOU, LISHUI)


def admin(node: str) -> Principal:
    return Principal(Role.ADMIN, node, "credit-admin", None, "a" * 64)


def court(node: str) -> Principal:
    return Principal(Role.DEPARTMENT, node, "court-office", "court", "c" * 64)


@dataclass
class Node:
    """A harness node with the discipline use cases the composition root adds."""

    harness: HarnessNode
    discipline: DisciplineService
    remedies: RemedyService

    @property
    def store(self) -> Store:
        return self.harness.store


@dataclass
class Federation:
    fed: InProcessFederation
    nodes: dict[str, Node]

    def __getitem__(self, node: str) -> Node:
        return self.nodes[node]

    def deliver(self) -> None:
        self.fed.deliver()

    @property
    def today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.fed.clock(), CHINA_STANDARD_TIME).date()

    def status(self, record_id: str) -> dict[str, str]:
        return {n: node.store.records.get(record_id, 1).status for n, node in self.nodes.items()}

    def check(self, node: str, subject: str) -> CheckResult:
        return (
            self[node]
            .discipline.check(
                department(node), subject=subject, domain="", purpose="bid review", case_id="B-1"
            )
            .result
        )

    def objection(self, node: str, objection_id: str) -> ObjectionRow:
        return self[node].discipline.repository.get_objection(objection_id)


@contextmanager
def discipline_federation(
    root: Path, keystore: Keystore, template: Path, nodes: Sequence[str] = NODES
) -> Iterator[Federation]:
    """An :class:`InProcessFederation` of ``nodes`` with each node's discipline use cases."""
    federation = InProcessFederation.build(root, keystore, nodes, template=template)

    def now() -> int:
        return int(federation.clock())

    built: dict[str, Node] = {}
    for node_id, node in federation.nodes.items():
        catalog = load_packaged_catalog(node_id)
        router = node.federation.messages
        discipline = DisciplineService(
            node_id=node_id,
            catalog=catalog,
            measures=load_packaged_measures(node_id),
            store=node.store,
            router=router,
            clock=now,
            revocations=Revocations(node.store, node_id=node_id, directory=lambda: None, clock=now),
        )
        remedies = RemedyService(
            node_id=node_id,
            catalog=catalog,
            store=node.store,
            router=router,
            statuses=node.federation.statuses,
            clock=now,
        )
        built[node_id] = Node(node, discipline, remedies)
    try:
        yield Federation(federation, built)
    finally:
        federation.close()


def listed(fed: Federation, node: str, submission: Submission, principal: Principal) -> str:
    """Issue one list entry at ``node`` and deliver it to every node."""
    [result] = fed[node].harness.submit([submission], principal)
    assert result.outcome is IntakeOutcome.ACCEPTED, result.reason
    fed.deliver()
    assert set(fed.status(result.record_id).values()) == {"active"}
    return result.record_id


def debtor(fed: Federation, node: str, i: int) -> tuple[str, str]:
    fields = debtor_fields(i, decided=fed.today - dt.timedelta(days=20))
    return debtor_with(fed, node, i, fields)


def debtor_with(fed: Federation, node: str, i: int, fields: dict[str, str]) -> tuple[str, str]:
    """A court's 失信被执行人 listing ``fields`` issued at ``node``: (record id, subject)."""
    return listed(fed, node, Submission(str(i), "dishonest_debtor", fields), court(node)), (
        company_code(100_000 + i)
    )


def serious(fed: Federation, node: str, i: int) -> tuple[str, str]:
    fields = notice_fields(i, decided=fed.today - dt.timedelta(days=20))
    return listed(fed, node, Submission(str(i), "serious_dishonesty", fields), admin(node)), (
        company_code(100_000 + i)
    )
