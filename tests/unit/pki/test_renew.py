"""`gateway pki renew`: new certificates from the node's own CA, the old signing one kept."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.cli import cli
from gateway.commands.pki import pki
from gateway.core.directory import Directory
from gateway.core.errors import ConfigurationError, MalformedError, SignatureError
from gateway.node.config import load_config
from gateway.node.directory_file import build_directory, sign_directory_file
from gateway.node.trust import FederationTrust
from gateway.pki import (
    check_node_credentials,
    fingerprint,
    init_federation,
    issue_node,
    load_node_credentials,
    signing_kid,
)
from gateway.pki.inventory import keystore_certificates
from gateway.pki.keystore import read_certificates
from gateway.pki.renew import renew_node
from gateway.pki.requests import install_node_ca, request_node_ca, sign_node_request
from gateway.store import AuditFilter, open_store

ISSUED = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
RENEWED = ISSUED + dt.timedelta(days=330)
NODES = [("000000", None), ("330000", "000000"), ("330500", "330000")]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("keys")
    init_federation(base, now=ISSUED)
    for node_id, parent in NODES:
        issue_node(base, node_id=node_id, parent_id=parent, host="127.0.0.1", now=ISSUED)
    return base


@pytest.fixture
def keys(tmp_path: Path, pristine: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "keys"))


def _spki(key: object) -> bytes:
    public = key.public_key()  # type: ignore[attr-defined]
    return bytes(public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


@pytest.mark.parametrize("new_key", [False, True])
def test_renewal_keeps_the_old_signing_certificate_in_the_history(
    keys: Path, new_key: bool
) -> None:
    before = load_node_credentials(keys / "nodes" / "330500")
    renewal = renew_node(keys, node_id="330500", new_key=new_key, now=RENEWED)
    after = load_node_credentials(keys / "nodes" / "330500")

    check_node_credentials(after, node_id="330500", now=RENEWED + dt.timedelta(days=100))
    assert renewal.old_signing_kid == signing_kid(before.signing_cert)
    assert renewal.new_signing_kid == signing_kid(after.signing_cert) != renewal.old_signing_kid
    assert renewal.retired_at == int(RENEWED.timestamp())
    assert after.signing_cert.not_valid_after_utc == RENEWED + dt.timedelta(days=365)
    assert after.tls_cert.not_valid_after_utc == RENEWED + dt.timedelta(days=365)
    assert [(r.certificate, r.retired_at) for r in after.retired_signing] == [
        (before.signing_cert, renewal.retired_at)
    ]
    same = {_spki(after.signing_key) == _spki(before.signing_key)}
    assert same == {not new_key}
    assert (_spki(after.tls_key) == _spki(before.tls_key)) is not new_key
    for name in ("tls.key", "signing.key"):
        assert (keys / "nodes" / "330500" / name).stat().st_mode & 0o777 == 0o600
    listed = keystore_certificates(keys, now=RENEWED, warn_within=dt.timedelta(days=30))
    retired = [c for c in listed if c.kind == "retired-signing"]
    assert [(c.path, c.owner, c.state) for c in retired] == [
        ("nodes/330500/signing-history.json", "330500", "retired")
    ]


def test_the_directory_lists_the_key_history_and_reads_it_back(keys: Path) -> None:
    first = renew_node(keys, node_id="330500", new_key=True, now=RENEWED)
    second = renew_node(keys, node_id="330500", now=RENEWED + dt.timedelta(days=300))
    endpoints = {node: f"127.0.0.1:{7000 + i}" for i, (node, _p) in enumerate(NODES)}
    now = int(RENEWED.timestamp())
    built = build_directory(keys, endpoints, serial=1, now=now, valid_s=3600)
    entry = built.nodes["330500"]
    assert entry.signing_kids == (
        second.new_signing_kid,
        first.old_signing_kid,
        second.old_signing_kid,
    )
    assert dict(entry.signing_retired) == {
        first.old_signing_kid: first.retired_at,
        second.old_signing_kid: second.retired_at,
    }
    assert Directory.from_payload(built.to_payload()) == built
    # A node that never renewed is written as before: no signing_retired key at all.
    national = json.loads(built.to_payload())["nodes"][0]
    assert "signing_retired" not in national


@pytest.mark.parametrize(
    ("retired", "extra_kid", "message"),
    [
        ({"ab" * 32: 5}, False, "retired key abababababababab… is not in signing_kids"),
        (["KID"], False, "signing_retired must be a non-empty object when present"),
        ({}, False, "signing_retired must be a non-empty object when present"),
        ({"KID": 5}, False, "every signing key is retired; one must be current"),
        ({"KID": -1}, True, "the retirement of key .* must be Unix seconds"),
        ({"KID": "5"}, True, "the retirement of key .* must be Unix seconds"),
    ],
)
def test_a_malformed_key_history_is_refused(
    keys: Path, retired: object, extra_kid: bool, message: str
) -> None:
    endpoints = {node: f"127.0.0.1:{7000 + i}" for i, (node, _p) in enumerate(NODES)}
    built = build_directory(keys, endpoints, serial=1, now=100, valid_s=3600)
    doc = json.loads(built.to_payload())
    city = doc["nodes"][2]
    kid = city["signing_kids"][0]
    text = json.dumps(retired).replace("KID", kid)
    city["signing_retired"] = json.loads(text)
    if extra_kid:
        city["signing_kids"].append("cd" * 32)
    with pytest.raises(MalformedError, match=message):
        Directory.from_payload(json.dumps(doc).encode())


def test_pki_renew_command(tmp_path: Path) -> None:
    keys = tmp_path / "keys"  # issued now: the command renews at the real time
    init_federation(keys)
    issue_node(keys, node_id="000000", parent_id=None, host="127.0.0.1")
    issue_node(keys, node_id="330000", parent_id="000000", host="127.0.0.1")
    result = CliRunner().invoke(
        pki, ["renew", "--dir", str(keys), "--node", "330000", "--new-key", "--json"]
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    after = load_node_credentials(keys / "nodes" / "330000")
    assert answer["new_signing_kid"] == signing_kid(after.signing_cert)
    assert answer["old_signing_kid"] == signing_kid(after.retired_signing[0].certificate)
    assert answer["new_key"] is True


def test_renewal_that_the_node_ca_would_cut_short_says_to_renew_the_ca(keys: Path) -> None:
    ca_end = load_node_credentials(keys / "nodes" / "330500").ca_cert.not_valid_after_utc
    renew_node(keys, node_id="330500", now=ca_end - dt.timedelta(days=100))
    with pytest.raises(ConfigurationError) as refused:
        renew_node(keys, node_id="330500", now=ca_end - dt.timedelta(days=50))
    assert str(refused.value) == (
        f"the node CA of 330500 expires {ca_end.isoformat()}: a renewed certificate would not "
        "outlive the current one; have the node CA signed again first "
        "(`gateway pki request`, `pki sign`, `pki install`)"
    )


def test_after_the_node_ca_is_signed_again_the_old_signing_key_still_verifies(
    keys: Path,
) -> None:
    """Five years on, the city's CA is enrolled anew (new CA key); its old records verify."""
    old = load_node_credentials(keys / "nodes" / "330500")
    old_kid = signing_kid(old.signing_cert)
    later = ISSUED + dt.timedelta(days=200)
    request = request_node_ca(keys, node_id="330500", force=True)
    bundle = sign_node_request(keys, request.read_bytes(), signer="330000", now=later)
    install_node_ca(
        keys,
        node_id="330500",
        bundle_pem=bundle,
        root_pem=(keys / "root" / "ca.crt").read_bytes(),
        host="127.0.0.1",
        now=later,
        force=True,
    )
    new = load_node_credentials(keys / "nodes" / "330500")
    assert new.ca_cert.public_key() != old.ca_cert.public_key()
    assert [(r.certificate, r.chain) for r in new.retired_signing] == [
        (old.signing_cert, old.chain)
    ]
    endpoints = {node: f"127.0.0.1:{7000 + i}" for i, (node, _p) in enumerate(NODES)}
    now = int(later.timestamp())
    built = build_directory(keys, endpoints, serial=1, now=now, valid_s=3600)
    trust = FederationTrust(node_id="000000", root=old.root, clock=lambda: float(now))
    trust.install(sign_directory_file(keys, built))
    assert trust.owner(old_kid) == "330500"
    trust.resolve(old_kid)
    trust.check_issued_within(old_kid, now - 86_400)  # signed the day before: verifies
    with pytest.raises(SignatureError, match=r"forged with a retired key$"):
        trust.check_issued_within(old_kid, now + 1)
    trust.check_in_force("330500", signing_kid(new.signing_cert))


def test_renew_and_sign_by_a_node_config_are_audited_in_its_log(tmp_path: Path) -> None:
    keys = tmp_path / "keys"  # issued now: the commands run at the real time
    init_federation(keys)
    for node_id, parent in NODES:
        issue_node(keys, node_id=node_id, parent_id=parent, host="127.0.0.1")
    configs = {}
    for node_id in ("330000", "330500"):
        configs[node_id] = tmp_path / f"{node_id}.toml"
        made = CliRunner().invoke(
            cli,
            [
                "node", "init", "--node", node_id, "--keys", str(keys),
                "--listen", "127.0.0.1:0", "--out", str(configs[node_id]),
            ],
        )  # fmt: skip
        assert made.exit_code == 0, made.output
    renewed = CliRunner().invoke(
        pki, ["renew", "--config", str(configs["330500"]), "--new-key", "--json"]
    )
    assert renewed.exit_code == 0, renewed.output
    answer = json.loads(renewed.output)
    request = request_node_ca(tmp_path / "newcomer", node_id="330600")
    signed = CliRunner().invoke(
        pki,
        [
            "sign", "--dir", str(keys), "--ca", "330000", "--request", str(request),
            "--out", str(tmp_path / "330600.pem"), "--config", str(configs["330000"]),
        ],
    )  # fmt: skip
    assert signed.exit_code == 0, signed.output
    certificate = read_certificates(tmp_path / "330600.pem")[0]

    def details(node_id: str, action: str) -> list[str]:
        store = open_store(load_config(configs[node_id]).database)
        try:
            found = store.audit.events(AuditFilter(action=action), after=-1, limit=10)
            return [e.event.detail for e in found]
        finally:
            store.close()

    assert details("330500", "operator.pki_renew") == [
        f"signing key {answer['new_signing_kid'][:16]}… current, "
        f"{answer['old_signing_kid'][:16]}… retired at {answer['retired_at']}; new keys"
    ]
    assert details("330000", "operator.pki_sign") == [
        f"signed {certificate.subject.rfc4514_string()} "
        f"(certificate {fingerprint(certificate)[:16]}…) as 330000"
    ]


def test_pki_node_force_keeps_the_replaced_signing_certificate_in_the_history(
    keys: Path,
) -> None:
    old = load_node_credentials(keys / "nodes" / "330500")
    later = ISSUED + dt.timedelta(days=10)
    issue_node(keys, node_id="330500", parent_id="330000", host="127.0.0.1", now=later, force=True)
    new = load_node_credentials(keys / "nodes" / "330500")
    assert [(r.certificate, r.chain, r.retired_at) for r in new.retired_signing] == [
        (old.signing_cert, old.chain, int(later.timestamp()))
    ]
    endpoints = {node: f"127.0.0.1:{7000 + i}" for i, (node, _p) in enumerate(NODES)}
    built = build_directory(keys, endpoints, serial=1, now=int(later.timestamp()), valid_s=60)
    assert built.nodes["330500"].signing_kids == (
        signing_kid(new.signing_cert),
        signing_kid(old.signing_cert),
    )
