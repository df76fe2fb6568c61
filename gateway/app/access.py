"""Who may call what: the one access table of every RPC a node serves.

The interceptor (:class:`gateway.rpc.interceptor.GatewayInterceptor`) is handed
this table by the composition root and refuses any method missing from it, for
everyone (fail closed). A test proves that every method of every service the
node registers has a row.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway._proto.v1 import audit_pb2, federation_pb2
from gateway.core.principal import Principal, Role
from gateway.node.revocations import Revocations
from gateway.rpc.interceptor import AccessTable

__all__ = ["ACCESS", "CHECKED_AT_COMMIT", "OPEN_METHODS", "revocation_check"]

_ANY = frozenset(Role)
_READERS = frozenset({Role.DEPARTMENT, Role.AUDITOR, Role.NODE})
_DEPARTMENTS = frozenset({Role.DEPARTMENT})
_ADMINS = frozenset({Role.ADMIN})
_DISCIPLINE_READERS = frozenset({Role.AUDITOR, Role.ADMIN})
_DISCIPLINE = "/gateway.v1.Discipline/"

ACCESS: AccessTable = {
    "/gateway.v1.Intake/Submit": _DEPARTMENTS,
    "/gateway.v1.Records/List": _READERS,
    "/gateway.v1.Records/Get": _READERS,
    "/gateway.v1.Records/Export": _READERS,
    "/gateway.v1.Records/Where": frozenset({Role.DEPARTMENT, Role.AUDITOR, Role.ADMIN}),
    "/gateway.v1.Records/SetStatus": frozenset({Role.DEPARTMENT, Role.ADMIN}),
    "/gateway.v1.Records/Report": frozenset({Role.DEPARTMENT, Role.AUDITOR}),
    **{
        f"/gateway.v1.Federation/{m}": frozenset({Role.NODE})
        for m in federation_pb2.DESCRIPTOR.services_by_name["Federation"].methods_by_name
    },
    **{
        f"/gateway.v1.Audit/{m}": frozenset({Role.AUDITOR})
        for m in audit_pb2.DESCRIPTOR.services_by_name["Audit"].methods_by_name
    },
    "/gateway.v1.Witness/Cosign": frozenset({Role.NODE}),
    "/gateway.v1.Witness/LatestCosigned": frozenset({Role.NODE}),
    _DISCIPLINE + "Check": _DEPARTMENTS,
    _DISCIPLINE + "Feedback": _DEPARTMENTS,
    # A department follows its own hits; admins and auditors follow every department's.
    _DISCIPLINE + "PendingFeedback": frozenset({Role.DEPARTMENT, Role.ADMIN, Role.AUDITOR}),
    # A department or the platform's admin files on the subject's behalf.
    _DISCIPLINE + "FileObjection": frozenset({Role.DEPARTMENT, Role.ADMIN}),
    _DISCIPLINE + "DecideObjection": _ADMINS,
    _DISCIPLINE + "ApplyRepair": _ADMINS,
    _DISCIPLINE + "DecideRepair": _ADMINS,
    # Admins read the queue they decide; auditors inspect it.
    _DISCIPLINE + "ListObjections": _DISCIPLINE_READERS,
    _DISCIPLINE + "ListHits": _DISCIPLINE_READERS,
    "/grpc.health.v1.Health/Check": _ANY,
    "/grpc.health.v1.Health/Watch": _ANY,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": _ANY,
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": _ANY,
}
"""Who may call what. A method missing here is refused for everyone."""

OPEN_METHODS: frozenset[str] = frozenset(m for m, roles in ACCESS.items() if roles == _ANY)
"""Health and reflection: open to every role, they read nothing of the store. A caller's
revocation is not looked up in the store for them, so that health still answers (NOT_SERVING)
while the database is down."""


CHECKED_AT_COMMIT: frozenset[str] = frozenset({_DISCIPLINE + "Check"})
"""Methods whose use case reads the caller's revocation on this node's list itself, in the
transaction that commits its answer, and before any refusal it audits
(:class:`gateway.node.discipline.DisciplineService`): stricter than a read as the call comes
in (a revocation committed while the call was decided is seen), and one read fewer on the
RPC thread per check (issue 19 item 3). The edge still checks the directory's list."""


def revocation_check(revocations: Revocations) -> Callable[[Principal, str], None]:
    """Every RPC checks the caller's revocation, but health and reflection only against the
    directory (in memory): they must answer while the store is down; and the methods of
    :data:`CHECKED_AT_COMMIT` against the directory, their use case reading the store's."""

    def check(principal: Principal, method: str) -> None:
        if method in OPEN_METHODS or method in CHECKED_AT_COMMIT:
            revocations.check_directory(principal)
        else:
            revocations.check(principal)

    return check
