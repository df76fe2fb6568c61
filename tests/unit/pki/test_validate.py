"""Chain checks, peer identities and signing certificates, on real certificates."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.core.errors import (
    AlgorithmError,
    ConfigurationError,
    ExpiredError,
    MalformedError,
    SignatureError,
)
from gateway.pki import (
    RECORD_SIGNING_EKU,
    NodeCredentials,
    PeerIdentity,
    check_node_credentials,
    fingerprint,
    init_federation,
    issue_client,
    issue_node,
    load_client_credentials,
    load_node_credentials,
    verify_peer_certificate,
    verify_signing_certificate,
)
from gateway.pki.keystore import ClientCredentials, read_ec_private_key

NOW = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(days=30)


@dataclasses.dataclass(frozen=True)
class Federation:
    base: Path
    nodes: dict[str, NodeCredentials]
    clients: dict[str, ClientCredentials]

    @property
    def root(self) -> x509.Certificate:
        return self.nodes["000000"].root


def _federation(base: Path, nodes: list[tuple[str, str | None]]) -> Federation:
    init_federation(base, name=f"Federation {base.name}", now=NOW)
    for node_id, parent in nodes:
        issue_node(base, node_id=node_id, parent_id=parent, host=f"n{node_id}.example", now=NOW)
    issue_client(
        base, node_id="330500", name="buyer", role="department", domain="procurement", now=NOW
    )
    issue_client(base, node_id="330000", name="inspector", role="auditor", now=NOW)
    return Federation(
        base,
        {n: load_node_credentials(base / "nodes" / n) for n, _ in nodes},
        {
            "buyer": load_client_credentials(base / "clients" / "330500-buyer"),
            "inspector": load_client_credentials(base / "clients" / "330000-inspector"),
        },
    )


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    return _federation(
        tmp_path_factory.mktemp("main"),
        [("000000", None), ("330000", "000000"), ("330500", "330000"), ("330600", "330000"),
         ("440000", "000000")],
    )  # fmt: skip


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    """Another federation with the same node ids and names but its own root."""
    return _federation(
        tmp_path_factory.mktemp("other"),
        [("000000", None), ("330000", "000000"), ("330500", "330000")],
    )


def _resign(
    cert: x509.Certificate,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    *,
    issuer: x509.Certificate | None = None,
    replace: tuple[x509.ExtensionType, ...] = (),
    public_key: CertificatePublicKeyTypes | None = None,
) -> x509.Certificate:
    """A copy of ``cert`` with some extensions replaced, signed by ``issuer_key``."""
    key = public_key or cert.public_key()
    replaced = {type(e) for e in replace}
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(issuer.subject if issuer else cert.issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    for ext in cert.extensions:
        if type(ext.value) in replaced or isinstance(
            ext.value, x509.SubjectKeyIdentifier | x509.AuthorityKeyIdentifier
        ):
            continue
        builder = builder.add_extension(ext.value, ext.critical)
    for value in replace:
        critical = isinstance(value, x509.BasicConstraints | x509.KeyUsage)
        builder = builder.add_extension(value, critical)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key), False)
    issuer_public = issuer_key.public_key()
    assert isinstance(issuer_public, ec.EllipticCurvePublicKey)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), False
    )
    return builder.sign(issuer_key, hashes.SHA256())


def _san(*uris: str) -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris])


def _ca_for(
    node_id: str, *, issuer: x509.Certificate, issuer_key: ec.EllipticCurvePrivateKey
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"rogue CA {node_id}")]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=100))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
        .add_extension(_san(f"urn:credit-gateway:node:{node_id}"), False)
        .sign(issuer_key, hashes.SHA256())
    )
    return cert, key


# -- check_node_credentials ----------------------------------------------------------


@pytest.mark.parametrize("node_id", ["000000", "330000", "330500", "440000"])
def test_issued_credentials_pass(fed: Federation, node_id: str) -> None:
    check_node_credentials(fed.nodes[node_id], node_id=node_id, now=LATER)


def test_expired_names_the_file(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    after = creds.tls_cert.not_valid_after_utc + dt.timedelta(days=1)
    expired = r"330500/tls\.crt: certificate expired at 2026"
    with pytest.raises(ConfigurationError, match=expired) as e:
        check_node_credentials(creds, node_id="330500", now=after)
    assert str(e.value).endswith(
        f"; renew it with `gateway pki renew --dir {fed.base} --node 330500`"
    )


def test_expired_node_ca_suggests_signing_it_again(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    after = creds.ca_cert.not_valid_after_utc + dt.timedelta(days=1)
    # The root outlives the node CA, so ca.crt is the first file found expired.
    with pytest.raises(ConfigurationError, match=r"330500/ca\.crt: certificate expired at") as e:
        check_node_credentials(creds, node_id="330500", now=after)
    assert "`gateway pki request --dir" in str(e.value)
    assert "`gateway pki sign` at the parent's CA, then `gateway pki install`" in str(e.value)


def test_not_yet_valid_names_the_file(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    before = NOW - dt.timedelta(days=1)
    with pytest.raises(ConfigurationError, match=r"root\.crt: certificate not yet valid at 2025"):
        check_node_credentials(creds, node_id="330500", now=before)


@pytest.mark.parametrize(("field", "stem"), [("tls_key", "tls"), ("ca_key", "ca")])
def test_key_mismatch(fed: Federation, field: str, stem: str) -> None:
    creds = dataclasses.replace(fed.nodes["330500"], **{field: getattr(fed.nodes["330600"], field)})
    with pytest.raises(
        ConfigurationError,
        match=rf"330500/{stem}\.key: private key does not match certificate {stem}\.crt",
    ):
        check_node_credentials(creds, node_id="330500", now=LATER)


def test_signing_key_mismatch(fed: Federation) -> None:
    creds = dataclasses.replace(fed.nodes["330500"], signing_key=Ed25519PrivateKey.generate())
    with pytest.raises(ConfigurationError, match=r"signing\.key: private key does not match"):
        check_node_credentials(creds, node_id="330500", now=LATER)


def test_chain_to_another_root(fed: Federation, other: Federation) -> None:
    creds = dataclasses.replace(fed.nodes["330500"], root=other.root)
    with pytest.raises(
        ConfigurationError,
        match=r"chain\.pem\[1\]: chain does not lead to the root: not issued by root\.crt",
    ):
        check_node_credentials(creds, node_id="330500", now=LATER)


def test_chain_file_missing_the_province(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    creds = dataclasses.replace(creds, chain=creds.chain[:1])
    with pytest.raises(ConfigurationError, match=r"chain\.pem: chain does not lead to the root"):
        check_node_credentials(creds, node_id="330500", now=LATER)


def test_tls_certificate_from_another_ca(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    forged = _resign(creds.tls_cert, fed.nodes["330600"].ca_key, issuer=creds.ca_cert)
    with pytest.raises(
        ConfigurationError,
        match=r"tls\.crt: chain does not lead to the root: not issued by ca\.crt",
    ):
        check_node_credentials(
            dataclasses.replace(creds, tls_cert=forged), node_id="330500", now=LATER
        )


def test_wrong_node_id(fed: Federation) -> None:
    with pytest.raises(
        ConfigurationError, match=r"330500/ca\.crt: wrong node id in SAN: 330500, expected 330600"
    ):
        check_node_credentials(fed.nodes["330500"], node_id="330600", now=LATER)


def test_wrong_node_id_in_tls_certificate(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    tls = _resign(creds.tls_cert, creds.ca_key, replace=(_san("urn:credit-gateway:node:330600"),))
    with pytest.raises(ConfigurationError, match=r"tls\.crt: wrong node id in SAN: 330600"):
        check_node_credentials(
            dataclasses.replace(creds, tls_cert=tls), node_id="330500", now=LATER
        )


def test_city_ca_with_pathlen_one(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    province_key = fed.nodes["330000"].ca_key
    ca = _resign(creds.ca_cert, province_key, replace=(x509.BasicConstraints(True, 1),))
    creds = dataclasses.replace(creds, ca_cert=ca, chain=(ca, *creds.chain[1:]))
    with pytest.raises(
        ConfigurationError, match=r"ca\.crt: CA constraints broken: pathlen 1, expected 0"
    ):
        check_node_credentials(creds, node_id="330500", now=LATER)


def test_leaf_marked_as_ca(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    tls = _resign(creds.tls_cert, creds.ca_key, replace=(x509.BasicConstraints(True, None),))
    with pytest.raises(
        ConfigurationError, match=r"tls\.crt: CA constraints broken: a leaf must not be a CA"
    ):
        check_node_credentials(
            dataclasses.replace(creds, tls_cert=tls), node_id="330500", now=LATER
        )


def test_signing_certificate_without_signing_eku(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    signing = _resign(
        creds.signing_cert,
        creds.ca_key,
        replace=(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]),),
    )
    with pytest.raises(
        ConfigurationError, match=r"signing\.crt: signing certificate lacks the signing EKU"
    ):
        check_node_credentials(
            dataclasses.replace(creds, signing_cert=signing), node_id="330500", now=LATER
        )


def test_tls_certificate_without_server_auth(fed: Federation) -> None:
    creds = fed.nodes["330000"]
    tls = _resign(
        creds.tls_cert,
        creds.ca_key,
        replace=(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),),
    )
    with pytest.raises(ConfigurationError, match=r"tls\.crt: TLS certificate lacks the serverAuth"):
        check_node_credentials(
            dataclasses.replace(creds, tls_cert=tls), node_id="330000", now=LATER
        )


def test_invalid_configured_node_id(fed: Federation) -> None:
    with pytest.raises(ConfigurationError, match=r"configured node id: .*county code"):
        check_node_credentials(fed.nodes["330500"], node_id="330502", now=LATER)


# -- verify_peer_certificate ---------------------------------------------------------


@pytest.mark.parametrize("node_id", ["000000", "330000", "330500"])
def test_node_identity(fed: Federation, node_id: str) -> None:
    creds = fed.nodes[node_id]
    identity = verify_peer_certificate(creds.tls_cert, creds.chain, root=fed.root, now=LATER)
    assert identity == PeerIdentity(
        "node", node_id, None, "node", None, fingerprint(creds.tls_cert)
    )


def test_identity_from_pem_der_and_bundle(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    bundle = creds.tls_certificate_chain_pem()
    pem_leaf = creds.tls_cert.public_bytes(Encoding.PEM)
    der_chain = [c.public_bytes(Encoding.DER) for c in reversed(creds.chain)]
    by_pem = verify_peer_certificate(pem_leaf, bundle, root=fed.root, now=LATER)
    by_der = verify_peer_certificate(
        creds.tls_cert.public_bytes(Encoding.DER), der_chain, root=fed.root, now=LATER
    )
    assert by_pem == by_der
    assert by_pem.node_id == "330500"


def test_department_identity(fed: Federation) -> None:
    client = fed.clients["buyer"]
    identity = verify_peer_certificate(client.cert, client.chain, root=fed.root, now=LATER)
    assert identity == PeerIdentity(
        "client", "330500", "buyer", "department", "procurement", fingerprint(client.cert)
    )


def test_auditor_identity(fed: Federation) -> None:
    client = fed.clients["inspector"]
    identity = verify_peer_certificate(client.cert, client.chain, root=fed.root, now=LATER)
    assert (identity.kind, identity.node_id, identity.name) == ("client", "330000", "inspector")
    assert (identity.role, identity.domain) == ("auditor", None)


def test_client_of_another_federation_refused(fed: Federation, other: Federation) -> None:
    client = other.clients["buyer"]
    with pytest.raises(SignatureError, match="does not chain to the federation root"):
        verify_peer_certificate(client.cert, client.chain, root=fed.root, now=LATER)


def test_missing_intermediate_refused(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    with pytest.raises(SignatureError, match="does not chain to the federation root"):
        verify_peer_certificate(creds.tls_cert, creds.chain[:1], root=fed.root, now=LATER)


def test_city_ca_cannot_issue_for_another_city_node(fed: Federation) -> None:
    city = fed.nodes["330500"]
    forged = _resign(city.tls_cert, city.ca_key, replace=(_san("urn:credit-gateway:node:330600"),))
    with pytest.raises(
        SignatureError,
        match="peer certificate belongs to node 330600 but was issued by the CA of node 330500",
    ):
        verify_peer_certificate(forged, city.chain, root=fed.root, now=LATER)


def test_city_ca_cannot_issue_clients_of_another_city(fed: Federation) -> None:
    city = fed.nodes["330500"]
    forged = _resign(
        fed.clients["buyer"].cert,
        city.ca_key,
        replace=(
            _san(
                "urn:credit-gateway:client:330600:buyer",
                "urn:credit-gateway:role:department",
                "urn:credit-gateway:domain:procurement",
            ),
        ),
    )
    with pytest.raises(
        SignatureError,
        match="client 'buyer' belongs to node 330600 but was issued by the CA of node 330500",
    ):
        verify_peer_certificate(forged, city.chain, root=fed.root, now=LATER)


def test_province_cannot_sign_a_city_of_another_province(fed: Federation) -> None:
    province = fed.nodes["330000"]
    rogue_ca, rogue_key = _ca_for("440300", issuer=province.ca_cert, issuer_key=province.ca_key)
    leaf = _resign(
        fed.nodes["330500"].tls_cert,
        rogue_key,
        issuer=rogue_ca,
        replace=(_san("urn:credit-gateway:node:440300"),),
    )
    with pytest.raises(
        SignatureError,
        match="node CA of 440300 is signed by the CA of node 330000, not of its parent 440000",
    ):
        verify_peer_certificate(leaf, [rogue_ca, province.ca_cert], root=fed.root, now=LATER)


def test_city_ca_signed_by_root_refused(fed: Federation) -> None:
    root_key = read_ec_private_key(fed.base / "root" / "ca.key")
    rogue_ca, rogue_key = _ca_for("330500", issuer=fed.root, issuer_key=root_key)
    leaf = _resign(fed.nodes["330500"].tls_cert, rogue_key, issuer=rogue_ca)
    with pytest.raises(
        SignatureError, match="node CA of city 330500 is signed directly by the root"
    ):
        verify_peer_certificate(leaf, [rogue_ca], root=fed.root, now=LATER)


def test_city_ca_cannot_create_sub_ca(fed: Federation) -> None:
    city = fed.nodes["330500"]
    sub_ca, sub_key = _ca_for("330500", issuer=city.ca_cert, issuer_key=city.ca_key)
    leaf = _resign(city.tls_cert, sub_key, issuer=sub_ca)
    with pytest.raises(SignatureError, match="does not chain to the federation root"):
        verify_peer_certificate(leaf, [sub_ca, *city.chain], root=fed.root, now=LATER)


def test_expired_peer_refused(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    after = creds.tls_cert.not_valid_after_utc + dt.timedelta(seconds=1)
    with pytest.raises(ExpiredError, match="peer certificate: certificate expired at"):
        verify_peer_certificate(creds.tls_cert, creds.chain, root=fed.root, now=after)


def test_signing_certificate_is_not_a_tls_identity(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    with pytest.raises(SignatureError, match="required EKU not found"):
        verify_peer_certificate(creds.signing_cert, creds.chain, root=fed.root, now=LATER)


def test_leaf_without_identity_refused(fed: Federation) -> None:
    city = fed.nodes["330500"]
    leaf = _resign(
        city.tls_cert, city.ca_key, replace=(x509.SubjectAlternativeName([x509.DNSName("a.b")]),)
    )
    with pytest.raises(MalformedError, match="names 0 nodes and 0 clients"):
        verify_peer_certificate(leaf, city.chain, root=fed.root, now=LATER)


def test_department_without_domain_refused(fed: Federation) -> None:
    city = fed.nodes["330500"]
    leaf = _resign(
        fed.clients["buyer"].cert,
        city.ca_key,
        replace=(
            _san("urn:credit-gateway:client:330500:buyer", "urn:credit-gateway:role:department"),
        ),
    )
    with pytest.raises(MalformedError, match="department client 'buyer' names 0 domains"):
        verify_peer_certificate(leaf, city.chain, root=fed.root, now=LATER)


def test_garbage_refused(fed: Federation) -> None:
    with pytest.raises(MalformedError, match=r"peer certificate is not an X\.509 certificate"):
        verify_peer_certificate(b"\x30\x03\x02\x01\x01", [], root=fed.root, now=LATER)


# -- verify_signing_certificate ------------------------------------------------------


def test_signing_key_returned(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    key = verify_signing_certificate(
        creds.signing_cert, creds.chain, root=fed.root, node_id="330500", at_time=LATER
    )
    key.verify(creds.signing_key.sign(b"record"), b"record")


def test_signing_certificate_valid_at_issue_time_though_expired_now(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    expires = creds.signing_cert.not_valid_after_utc
    # A record signed a day before the certificate expired still verifies...
    issued = expires - dt.timedelta(days=1)
    verify_signing_certificate(
        creds.signing_cert, creds.chain, root=fed.root, node_id="330500", at_time=issued
    )
    # ...while one claiming to be signed after expiry does not.
    with pytest.raises(ExpiredError, match="certificate expired at"):
        verify_signing_certificate(
            creds.signing_cert, creds.chain, root=fed.root, node_id="330500",
            at_time=expires + dt.timedelta(seconds=1),
        )  # fmt: skip


def test_signing_before_validity_refused(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    with pytest.raises(ExpiredError, match="certificate not yet valid"):
        verify_signing_certificate(
            creds.signing_cert, creds.chain, root=fed.root, node_id="330500",
            at_time=NOW - dt.timedelta(days=1),
        )  # fmt: skip


def test_signing_certificate_of_another_node_refused(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    with pytest.raises(SignatureError, match="names node 330500, expected 330600"):
        verify_signing_certificate(
            creds.signing_cert, creds.chain, root=fed.root, node_id="330600", at_time=LATER
        )


def test_tls_certificate_is_not_a_signing_certificate(fed: Federation) -> None:
    creds = fed.nodes["330500"]
    with pytest.raises(SignatureError, match="lacks the record signing extended key usage"):
        verify_signing_certificate(
            creds.tls_cert, creds.chain, root=fed.root, node_id="330500", at_time=LATER
        )


def test_signing_certificate_of_another_federation_refused(
    fed: Federation, other: Federation
) -> None:
    creds = other.nodes["330500"]
    with pytest.raises(SignatureError, match="does not chain to the federation root"):
        verify_signing_certificate(
            creds.signing_cert, creds.chain, root=fed.root, node_id="330500", at_time=LATER
        )


def test_signing_certificate_for_another_city_refused(fed: Federation) -> None:
    city = fed.nodes["330500"]
    forged = _resign(fed.nodes["330600"].signing_cert, city.ca_key, issuer=city.ca_cert)
    with pytest.raises(
        SignatureError, match="belongs to node 330600 but was issued by the CA of node 330500"
    ):
        verify_signing_certificate(
            forged, city.chain, root=fed.root, node_id="330600", at_time=LATER
        )


def test_non_ed25519_signing_key_refused(fed: Federation) -> None:
    city = fed.nodes["330500"]
    ec_key = ec.generate_private_key(ec.SECP256R1())
    forged = _resign(city.signing_cert, city.ca_key, public_key=ec_key.public_key())
    with pytest.raises(AlgorithmError, match="expected Ed25519"):
        verify_signing_certificate(
            forged, city.chain, root=fed.root, node_id="330500", at_time=LATER
        )


def test_record_signing_eku_is_stable() -> None:
    # Issued certificates carry this OID; changing it would orphan every signing key.
    assert RECORD_SIGNING_EKU.dotted_string == "2.25.276009096187174174527324444979581553197"
