"""Issuing the federation hierarchy: names, levels and the certificates' contents."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import shutil
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.core.errors import ConfigurationError, InputError
from gateway.pki import (
    RECORD_SIGNING_EKU,
    NodeCredentials,
    fingerprint,
    init_federation,
    issue_client,
    issue_node,
    load_client_credentials,
    load_node_credentials,
    node_level,
    parent_of,
    signing_kid,
)
from gateway.pki.keystore import read_certificate, read_certificates

E = TypeVar("E", bound=x509.ExtensionType)
NOW = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
NODES = [
    ("000000", None, "national.example.cn"),
    ("330000", "000000", "10.33.0.1"),
    ("330500", "330000", "huzhou.example.cn"),
]


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("fed")
    init_federation(base, name="Test federation", now=NOW)
    for node_id, parent_id, host in NODES:
        issue_node(base, node_id=node_id, parent_id=parent_id, host=host, now=NOW)
    issue_client(
        base, node_id="330500", name="procurement", role="department", domain="procurement",
        endpoint="huzhou.example.cn:7443", now=NOW,
    )  # fmt: skip
    issue_client(base, node_id="330000", name="audit-1", role="auditor", now=NOW)
    return base


def _node(fed: Path, node_id: str) -> NodeCredentials:
    return load_node_credentials(fed / "nodes" / node_id)


def _ext(cert: x509.Certificate, kind: type[E]) -> x509.Extension[E]:
    return cert.extensions.get_extension_for_class(kind)


def _uris(cert: x509.Certificate) -> list[str]:
    san = _ext(cert, x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.UniformResourceIdentifier)


# -- node ids ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("node_id", "level", "parent"),
    [
        ("000000", "national", None),
        ("330000", "province", "000000"),
        ("110000", "province", "000000"),
        ("820000", "province", "000000"),
        ("330500", "city", "330000"),
        ("440300", "city", "440000"),
    ],
)
def test_node_level_and_parent(node_id: str, level: str, parent: str | None) -> None:
    assert node_level(node_id) == level
    assert parent_of(node_id) == parent


@pytest.mark.parametrize(
    ("node_id", "message"),
    [
        ("330502", "county code"),
        ("990000", "no GB/T 2260 province prefix '99'"),
        ("33050", "not a 6-digit"),
        ("33O500", "not a 6-digit"),
        ("３３０５００", "not a 6-digit"),
        ("", "not a 6-digit"),
    ],
)
def test_node_level_refuses(node_id: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        node_level(node_id)


# -- the certificates ----------------------------------------------------------------


def test_root_ca(fed: Path) -> None:
    root = read_certificate(fed / "root" / "ca.crt")
    assert root.subject.rfc4514_string() == "CN=Credit Gateway Federation Root,O=Test federation"
    assert root.issuer == root.subject
    assert _ext(root, x509.BasicConstraints).value == x509.BasicConstraints(True, 2)
    assert _ext(root, x509.BasicConstraints).critical
    assert _ext(root, x509.KeyUsage).value.key_cert_sign
    key = root.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    assert root.not_valid_after_utc - NOW >= dt.timedelta(days=3650)
    root.verify_directly_issued_by(root)


@pytest.mark.parametrize(
    ("node_id", "pathlen", "issuer_cn"),
    [
        ("000000", 0, "Credit Gateway Federation Root"),
        ("330000", 1, "Credit Gateway Federation Root"),
        ("330500", 0, "Credit Gateway Node CA 330000"),
    ],
)
def test_node_ca_place_in_hierarchy(fed: Path, node_id: str, pathlen: int, issuer_cn: str) -> None:
    creds = _node(fed, node_id)
    ca = creds.ca_cert
    assert _ext(ca, x509.BasicConstraints).value == x509.BasicConstraints(True, pathlen)
    assert ca.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == issuer_cn
    assert _uris(ca) == [f"urn:credit-gateway:node:{node_id}"]
    issuer = creds.root if node_id != "330500" else _node(fed, "330000").ca_cert
    ca.verify_directly_issued_by(issuer)


def test_chain_files_hold_node_ca_and_intermediates_but_not_root(fed: Path) -> None:
    root = read_certificate(fed / "root" / "ca.crt")
    province = _node(fed, "330000")
    city = _node(fed, "330500")
    assert province.chain == (province.ca_cert,)
    assert city.chain == (city.ca_cert, province.ca_cert)
    assert _node(fed, "000000").chain == (_node(fed, "000000").ca_cert,)
    for node_id, _, _ in NODES:
        assert read_certificate(fed / "nodes" / node_id / "root.crt") == root


def test_tls_certificate(fed: Path) -> None:
    city = _node(fed, "330500")
    tls = city.tls_cert
    san = _ext(tls, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "urn:credit-gateway:node:330500"
    ]
    assert san.get_values_for_type(x509.DNSName) == [
        "huzhou.example.cn",
        "node-330500.credit-gateway.invalid",
    ]
    assert san.get_values_for_type(x509.IPAddress) == []
    assert set(_ext(tls, x509.ExtendedKeyUsage).value) == {
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    }
    assert _ext(tls, x509.BasicConstraints).value.ca is False
    assert isinstance(tls.public_key(), ec.EllipticCurvePublicKey)
    assert tls.not_valid_after_utc == NOW + dt.timedelta(days=365)
    tls.verify_directly_issued_by(city.ca_cert)


def test_tls_certificate_for_an_ip_host_has_an_ip_san_and_the_node_name(fed: Path) -> None:
    san = _ext(_node(fed, "330000").tls_cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.33.0.1")]
    assert san.get_values_for_type(x509.DNSName) == ["node-330000.credit-gateway.invalid"]


def test_signing_certificate(fed: Path) -> None:
    city = _node(fed, "330500")
    cert = city.signing_cert
    assert isinstance(cert.public_key(), Ed25519PublicKey)
    assert _uris(cert) == ["urn:credit-gateway:node:330500"]
    usage = _ext(cert, x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.content_commitment
    assert not usage.value.key_cert_sign
    assert not usage.value.key_agreement
    assert not usage.value.key_encipherment
    assert not usage.value.data_encipherment
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [RECORD_SIGNING_EKU]
    assert RECORD_SIGNING_EKU.dotted_string.startswith("2.25.")
    assert cert.not_valid_after_utc == NOW + dt.timedelta(days=365)
    cert.verify_directly_issued_by(city.ca_cert)


def test_signing_kid_is_sha256_of_der(fed: Path) -> None:
    cert = _node(fed, "330500").signing_cert
    expected = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    assert signing_kid(cert) == expected == fingerprint(cert)
    assert signing_kid(_node(fed, "330000").signing_cert) != expected


def test_department_client(fed: Path) -> None:
    client = load_client_credentials(fed / "clients" / "330500-procurement")
    assert (client.node_id, client.name, client.role, client.domain) == (
        "330500", "procurement", "department", "procurement",
    )  # fmt: skip
    assert client.endpoint == "huzhou.example.cn:7443"
    assert _uris(client.cert) == [
        "urn:credit-gateway:client:330500:procurement",
        "urn:credit-gateway:role:department",
        "urn:credit-gateway:domain:procurement",
    ]
    assert list(_ext(client.cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    city = _node(fed, "330500")
    assert client.chain == city.chain
    client.cert.verify_directly_issued_by(city.ca_cert)


def test_auditor_client_has_no_domain(fed: Path) -> None:
    client = load_client_credentials(fed / "clients" / "330000-audit-1")
    assert client.domain is None
    assert client.endpoint is None
    assert _uris(client.cert) == [
        "urn:credit-gateway:client:330000:audit-1",
        "urn:credit-gateway:role:auditor",
    ]
    client.cert.verify_directly_issued_by(_node(fed, "330000").ca_cert)


# -- refusals ------------------------------------------------------------------------


def test_parent_must_match_region_code(fed: Path) -> None:
    with pytest.raises(
        InputError, match="node 330600 has parent 330000 by its region code, not 000000"
    ):
        issue_node(fed, node_id="330600", parent_id="000000", host="a.example", now=NOW)
    with pytest.raises(
        InputError, match="node 000000 has parent none by its region code, not 110000"
    ):
        issue_node(fed, node_id="000000", parent_id="110000", host="a.example", now=NOW)


def test_missing_parent_ca_key_is_named(fed: Path) -> None:
    with pytest.raises(
        ConfigurationError, match=r"CA key of node 440000 \(.*nodes/440000/ca\.key\) is missing"
    ):
        issue_node(fed, node_id="440300", parent_id="440000", host="sz.example", now=NOW)
    assert not (fed / "nodes" / "440300").exists()


def test_missing_root_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"federation root key .*root/ca\.key is missing"):
        issue_node(tmp_path, node_id="330000", parent_id="000000", host="a.example", now=NOW)


def test_client_of_missing_node_is_refused(fed: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"CA key of node 330600 .* is missing"):
        issue_client(fed, node_id="330600", name="x", role="admin", now=NOW)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"role": "department"}, "department client 'n' needs a domain"),
        ({"role": "auditor", "domain": "procurement"}, "only department clients have a domain"),
        ({"role": "superuser"}, "role 'superuser' is not one of"),
        ({"role": "admin", "name": "Bad Name"}, "client name 'Bad Name' must be"),
        ({"role": "admin", "name": "a:b"}, "client name 'a:b' must be"),
        ({"role": "department", "domain": "Pro:c"}, "domain 'Pro:c' must be"),
        ({"role": "admin", "endpoint": "example.cn"}, "endpoint 'example.cn' must be host:port"),
        ({"role": "admin", "endpoint": "example.cn:99999"}, "must be host:port"),
    ],
)
def test_client_input_refused(fed: Path, kwargs: dict[str, str], message: str) -> None:
    args = {"name": "n", **kwargs}
    with pytest.raises(InputError, match=message):
        issue_client(fed, node_id="330500", now=NOW, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("host", ["", "bad host", "-x.example", "a..b"])
def test_bad_host_refused(fed: Path, host: str) -> None:
    with pytest.raises(InputError, match="is neither an IP address nor a DNS host name"):
        issue_node(fed, node_id="330600", parent_id="330000", host=host, now=NOW, force=True)


def test_naive_time_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        init_federation(tmp_path, now=dt.datetime(2025, 1, 1))  # noqa: DTZ001


def test_certificates_never_outlive_their_ca(fed: Path, tmp_path: Path) -> None:
    # Issue the whole city again late in its province CA's life, in a copy of
    # the keystore so the module's federation is left alone.
    province = _node(fed, "330000")
    late = province.ca_cert.not_valid_after_utc - dt.timedelta(days=30)
    copy = tmp_path / "copy"
    shutil.copytree(fed / "root", copy / "root")
    shutil.copytree(fed / "nodes" / "330000", copy / "nodes" / "330000")
    issue_node(copy, node_id="330500", parent_id="330000", host="h.example", now=late)
    city = read_certificates(copy / "nodes" / "330500" / "chain.pem")[0]
    tls = read_certificate(copy / "nodes" / "330500" / "tls.crt")
    assert city.not_valid_after_utc == province.ca_cert.not_valid_after_utc
    assert tls.not_valid_after_utc == province.ca_cert.not_valid_after_utc


def test_expired_parent_ca_cannot_issue(fed: Path) -> None:
    after = _node(fed, "330000").ca_cert.not_valid_after_utc + dt.timedelta(days=1)
    with pytest.raises(ConfigurationError, match=r"issuing CA .*Node CA 330000.* is not valid at"):
        issue_client(fed, node_id="330000", name="late", role="admin", now=after)
