"""The node layer knows no transport: it imports neither gRPC nor the rpc adapters nor stubs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gateway.node

NODE = Path(gateway.node.__file__).parent
FORBIDDEN = (
    "grpc",
    "grpc_health",
    "grpc_reflection",
    "gateway.rpc",
    "gateway._proto",
    "gateway.app",
)


def _imports(path: Path) -> list[str]:
    """Every module named by an import statement of ``path``, anywhere in it."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            names.append(node.module or "")
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _forbidden(name: str) -> bool:
    return any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN)


MODULES = sorted(NODE.rglob("*.py"))


def test_the_node_package_has_modules_to_check() -> None:
    assert len(MODULES) > 20


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(NODE).as_posix())
def test_node_module_imports_no_transport(path: Path) -> None:
    assert [name for name in _imports(path) if _forbidden(name)] == []


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "import grpc\nfrom gateway.rpc.peer import open_peer_channel\n"
        "def f():\n    from gateway._proto.v1 import federation_pb2\n",
        encoding="utf-8",
    )
    assert [n for n in _imports(module) if _forbidden(n)] == [
        "grpc",
        "gateway.rpc.peer",
        "gateway.rpc.peer.open_peer_channel",
        "gateway._proto.v1",
        "gateway._proto.v1.federation_pb2",
    ]
