"""The keystore on disk: file modes, refusal to overwrite keys, loading."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)
from cryptography.x509 import load_pem_x509_certificates

from gateway.core.errors import ConfigurationError, ConflictError
from gateway.pki import (
    init_federation,
    issue_client,
    issue_node,
    load_client_credentials,
    load_node_credentials,
)

NOW = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A permissive umask proves the modes are set on purpose, not inherited.
    old = os.umask(0)
    try:
        base = tmp_path_factory.mktemp("ks") / "keys"
        init_federation(base, now=NOW)
        issue_node(base, node_id="330000", parent_id="000000", host="hz.example", now=NOW)
        issue_node(base, node_id="330500", parent_id="330000", host="10.0.0.5", now=NOW)
        issue_client(base, node_id="330500", name="ops", role="admin", now=NOW)
    finally:
        os.umask(old)
    return base


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _pub(key: object) -> bytes:
    public = key.public_key()  # type: ignore[attr-defined]
    return bytes(public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def test_file_modes(fed: Path) -> None:
    keys = sorted(fed.rglob("*.key"))
    assert [p.relative_to(fed).as_posix() for p in keys] == [
        "clients/330500-ops/client.key",
        "nodes/330000/ca.key",
        "nodes/330000/signing.key",
        "nodes/330000/tls.key",
        "nodes/330500/ca.key",
        "nodes/330500/signing.key",
        "nodes/330500/tls.key",
        "root/ca.key",
    ]
    assert {_mode(p) for p in keys} == {0o600}
    public = [p for p in fed.rglob("*") if p.suffix in {".crt", ".pem", ".json"}]
    assert len(public) == 1 + 2 * 5 + 4
    assert {_mode(p) for p in public} == {0o644}
    dirs = [fed, *(p for p in fed.rglob("*") if p.is_dir())]
    assert {_mode(p) for p in dirs} == {0o700}
    assert not list(fed.rglob(".*.tmp"))


def test_node_layout(fed: Path) -> None:
    names = sorted(p.name for p in (fed / "nodes" / "330500").iterdir())
    assert names == [
        "ca.crt", "ca.key", "chain.pem", "root.crt", "signing.crt", "signing.key",
        "tls.crt", "tls.key",
    ]  # fmt: skip


def test_client_layout_and_json(fed: Path) -> None:
    folder = fed / "clients" / "330500-ops"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["chain.pem", "client.crt", "client.json", "client.key", "root.crt"]
    assert json.loads((folder / "client.json").read_text()) == {
        "node": "330500", "name": "ops", "role": "admin", "domain": None, "endpoint": None,
    }  # fmt: skip


def test_refuses_to_overwrite_root(fed: Path) -> None:
    before = (fed / "root" / "ca.key").read_bytes()
    with pytest.raises(ConflictError, match=r"refusing to overwrite existing key .*root/ca\.key"):
        init_federation(fed, now=NOW)
    assert (fed / "root" / "ca.key").read_bytes() == before


def test_refuses_to_overwrite_node_and_client(fed: Path) -> None:
    node_files = {p: p.read_bytes() for p in (fed / "nodes" / "330500").iterdir()}
    with pytest.raises(ConflictError, match=r"nodes/330500/ca\.key"):
        issue_node(fed, node_id="330500", parent_id="330000", host="x.example", now=NOW)
    assert {p: p.read_bytes() for p in node_files} == node_files
    with pytest.raises(ConflictError, match=r"clients/330500-ops/client\.key"):
        issue_client(fed, node_id="330500", name="ops", role="admin", now=NOW)


def test_force_replaces_keys(tmp_path: Path) -> None:
    init_federation(tmp_path, now=NOW)
    first = (tmp_path / "root" / "ca.key").read_bytes()
    init_federation(tmp_path, now=NOW, force=True)
    second = tmp_path / "root" / "ca.key"
    assert second.read_bytes() != first
    assert _mode(second) == 0o600


def test_load_node_credentials_round_trip(fed: Path) -> None:
    creds = load_node_credentials(fed / "nodes" / "330500")
    assert creds.node_id == "330500"
    assert _pub(creds.tls_key) == creds.tls_cert.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    assert _pub(creds.signing_key) == creds.signing_cert.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    assert _pub(creds.ca_key) == creds.ca_cert.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    presented = load_pem_x509_certificates(creds.tls_certificate_chain_pem())
    assert presented == [creds.tls_cert, *creds.chain]
    assert _pub(load_pem_private_key(creds.tls_private_key_pem(), None)) == _pub(creds.tls_key)
    assert load_pem_x509_certificates(creds.root_pem()) == [creds.root]


def test_credentials_repr_has_no_key_material(fed: Path) -> None:
    creds = load_node_credentials(fed / "nodes" / "330500")
    client = load_client_credentials(fed / "clients" / "330500-ops")
    for text in (repr(creds), repr(client)):
        assert "_key=" not in text
        assert " key=" not in text
        assert "PrivateKey" not in text


def test_load_client_credentials(fed: Path) -> None:
    client = load_client_credentials(fed / "clients" / "330500-ops")
    assert (client.node_id, client.name, client.role) == ("330500", "ops", "admin")
    assert load_pem_x509_certificates(client.certificate_chain_pem()) == [
        client.cert,
        *client.chain,
    ]
    assert _pub(load_pem_private_key(client.private_key_pem(), None)) == _pub(client.key)


def _copy_node(fed: Path, tmp_path: Path) -> Path:
    target = tmp_path / "330500"
    target.mkdir(mode=0o700)
    for path in (fed / "nodes" / "330500").iterdir():
        (target / path.name).write_bytes(path.read_bytes())
        (target / path.name).chmod(_mode(path))
    return target


def test_missing_file_is_named(fed: Path, tmp_path: Path) -> None:
    node = _copy_node(fed, tmp_path)
    (node / "signing.crt").unlink()
    with pytest.raises(ConfigurationError, match=r"330500/signing\.crt is missing"):
        load_node_credentials(node)


def test_key_readable_by_others_refused(fed: Path, tmp_path: Path) -> None:
    node = _copy_node(fed, tmp_path)
    (node / "tls.key").chmod(0o644)
    with pytest.raises(ConfigurationError, match=r"tls\.key is readable by others \(mode 0644\)"):
        load_node_credentials(node)


def test_wrong_key_type_refused(fed: Path, tmp_path: Path) -> None:
    node = _copy_node(fed, tmp_path)
    (node / "signing.key").write_bytes((node / "tls.key").read_bytes())
    with pytest.raises(ConfigurationError, match=r"signing\.key does not hold an Ed25519"):
        load_node_credentials(node)


def test_garbage_certificate_refused(fed: Path, tmp_path: Path) -> None:
    node = _copy_node(fed, tmp_path)
    (node / "ca.crt").write_text("not a certificate\n")
    with pytest.raises(ConfigurationError, match=r"ca\.crt (does not hold PEM|holds no) cert"):
        load_node_credentials(node)


def test_bad_client_json_refused(fed: Path, tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    for path in (fed / "clients" / "330500-ops").iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
        (folder / path.name).chmod(_mode(path))
    (folder / "client.json").write_text('{"node": "330500", "name": "ops", "role": 3}')
    with pytest.raises(
        ConfigurationError, match=r"client\.json: 'role' must be a non-empty string"
    ):
        load_client_credentials(folder)
    (folder / "client.json").write_text("[")
    with pytest.raises(ConfigurationError, match=r"client\.json is not valid JSON"):
        load_client_credentials(folder)
