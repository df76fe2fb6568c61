"""Federation trust: only the national node's signed, current directory vouches for peers."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from gateway.core.errors import (
    AccessDeniedError,
    DirectoryExpiredError,
    ExpiredError,
    SignatureError,
)
from gateway.core.principal import Principal, Role
from gateway.node.directory_file import build_directory, sign_directory_file
from gateway.node.trust import FederationTrust, SignedDirectoryFile
from gateway.pki import fingerprint, load_node_credentials, signing_kid
from tests.support.federation import Keystore, make_keystore

NODES = ["000000", "330000", "330500"]


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    return make_keystore(tmp_path_factory.mktemp("keys"), nodes=[*NODES, "331100"], clients=[])


def _signed(
    keys: Path, *, now: int, revoked: tuple[str, ...] = (), serial: int = 1
) -> SignedDirectoryFile:
    directory = build_directory(
        keys,
        {node: f"127.0.0.1:{7000 + i}" for i, node in enumerate(NODES)},
        serial=serial,
        now=now,
        valid_s=3600,
        revoked=revoked,
    )
    return sign_directory_file(keys, directory)


def _trust(keystore: Keystore, now: float) -> FederationTrust:
    creds = load_node_credentials(keystore.node("330500"))
    return FederationTrust(node_id="330500", root=creds.root, clock=lambda: now)


def _principal(keystore: Keystore, node: str) -> Principal:
    creds = load_node_credentials(keystore.node(node))
    return Principal(Role.NODE, node, node, None, fingerprint(creds.tls_cert))


def test_listed_peers_and_keys_are_trusted(keystore: Keystore) -> None:
    now = int(time.time())
    trust = _trust(keystore, now)
    trust.install(_signed(keystore.root, now=now))
    assert trust.check_peer(_principal(keystore, "330000")).endpoint == "127.0.0.1:7001"
    kid = signing_kid(load_node_credentials(keystore.node("330000")).signing_cert)
    assert trust.owner(kid) == "330000"
    trust.check_issued_within(kid, now)
    with pytest.raises(ExpiredError, match="outside the validity"):
        trust.check_issued_within(kid, now - 10 * 365 * 86_400)


def test_unknown_nodes_and_revoked_certificates_are_refused(keystore: Keystore) -> None:
    now = int(time.time())
    province = load_node_credentials(keystore.node("330000"))
    trust = _trust(keystore, now)
    trust.install(_signed(keystore.root, now=now, revoked=(fingerprint(province.tls_cert),)))
    with pytest.raises(AccessDeniedError, match="node 331100 is not in the federation directory"):
        trust.check_peer(_principal(keystore, "331100"))
    with pytest.raises(AccessDeniedError, match="certificate of node 330000 is revoked"):
        trust.check_peer(_principal(keystore, "330000"))
    lishui_kid = signing_kid(load_node_credentials(keystore.node("331100")).signing_cert)
    with pytest.raises(AccessDeniedError, match="belongs to no node"):
        trust.resolve(lishui_kid)


def test_a_directory_not_signed_by_the_national_node_is_refused(keystore: Keystore) -> None:
    now = int(time.time())
    genuine = _signed(keystore.root, now=now)
    province = load_node_credentials(keystore.node("330000"))
    forged = dataclasses.replace(
        genuine,
        signer_chain_pem=(keystore.node("330000") / "signing.crt").read_bytes()
        + (keystore.node("330000") / "chain.pem").read_bytes(),
    )
    assert province.node_id == "330000"
    with pytest.raises(SignatureError):
        _trust(keystore, now).install(forged)


def test_an_expired_directory_stops_all_trust(keystore: Keystore) -> None:
    now = int(time.time())
    signed = _signed(keystore.root, now=now)
    later = _trust(keystore, now + 7200)
    with pytest.raises(DirectoryExpiredError, match="expired"):
        later.install(signed)
    clock = [float(now)]
    creds = load_node_credentials(keystore.node("330500"))
    current = FederationTrust(node_id="330500", root=creds.root, clock=lambda: clock[0])
    current.install(signed)
    clock[0] = now + 7200  # the cached copy ages past its expiry
    with pytest.raises(DirectoryExpiredError, match="expired"):
        current.check_peer(_principal(keystore, "330000"))


def test_an_older_serial_never_replaces_a_newer_directory(keystore: Keystore) -> None:
    now = int(time.time())
    trust = _trust(keystore, now)
    trust.install(_signed(keystore.root, now=now, serial=5))
    trust.install(_signed(keystore.root, now=now, serial=4))
    assert trust.directory().serial == 5
