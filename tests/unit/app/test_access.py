"""The one access table covers every method the node serves, and nothing else."""

from __future__ import annotations

from gateway._proto.v1 import audit_pb2, discipline_pb2, federation_pb2, intake_pb2, records_pb2
from gateway.app import ACCESS
from gateway.core.principal import Role

SERVED = {
    f"/{service.full_name}/{method}"
    for module in (audit_pb2, discipline_pb2, federation_pb2, intake_pb2, records_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods_by_name
}
PLATFORM = {
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
}


def test_every_served_method_has_exactly_one_row() -> None:
    assert set(ACCESS) == SERVED | PLATFORM


def test_no_row_is_empty() -> None:
    assert [method for method, roles in ACCESS.items() if not roles] == []


def test_federation_and_witness_are_for_nodes_only() -> None:
    peer_methods = {
        m for m in ACCESS if m.startswith(("/gateway.v1.Federation/", "/gateway.v1.Witness/"))
    }
    assert peer_methods
    assert {m: ACCESS[m] for m in peer_methods} == {m: frozenset({Role.NODE}) for m in peer_methods}


def test_platform_methods_are_open_to_every_role() -> None:
    assert {m: ACCESS[m] for m in PLATFORM} == {m: frozenset(Role) for m in PLATFORM}
