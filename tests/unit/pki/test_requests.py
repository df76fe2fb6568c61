"""Certificate requests: each node holds only its own keys; the CA above signs its request.

Every keystore here is a separate folder, as on separate machines: the root's
(kept offline), the national node's, the province's and the city's.
"""

from __future__ import annotations

import base64
import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from gateway.core.errors import ConfigurationError, MalformedError, SignatureError
from gateway.pki import (
    check_node_credentials,
    init_federation,
    issue_client,
    load_client_credentials,
    load_node_credentials,
    verify_peer_certificate,
)
from gateway.pki.issue import make_tls_certificate, node_ca_certificate
from gateway.pki.keystore import read_certificate, read_ec_private_key
from gateway.pki.requests import install_node_ca, request_node_ca, sign_node_request

NOW = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
OPENSSL = shutil.which("openssl")


def _enrol(keystore: Path, node_id: str, signer_dir: Path, signer: str, root: Path) -> None:
    """request on the node, sign at the CA above, install on the node."""
    request = request_node_ca(keystore, node_id=node_id)
    bundle = sign_node_request(signer_dir, request.read_bytes(), signer=signer, now=NOW)
    install_node_ca(
        keystore,
        node_id=node_id,
        bundle_pem=bundle,
        root_pem=root.read_bytes(),
        host="127.0.0.1",
        now=NOW,
    )


@pytest.fixture(scope="module")
def machines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("machines")
    offline = base / "offline-root"
    init_federation(offline, name="Test federation", now=NOW)
    root = offline / "root" / "ca.crt"
    stores = {"root": offline, **{n: base / n for n in ("000000", "330000", "330500")}}
    _enrol(stores["000000"], "000000", offline, "root", root)
    _enrol(stores["330000"], "330000", offline, "root", root)
    _enrol(stores["330500"], "330500", stores["330000"], "330000", root)
    return stores


@pytest.mark.parametrize("node_id", ["000000", "330000", "330500"])
def test_each_node_holds_only_its_own_keys_and_passes(
    machines: dict[str, Path], node_id: str
) -> None:
    keystore = machines[node_id]
    keys = sorted(str(p.relative_to(keystore)) for p in keystore.rglob("*.key"))
    assert keys == [f"nodes/{node_id}/{k}.key" for k in ("ca", "signing", "tls")]
    creds = load_node_credentials(keystore / "nodes" / node_id)
    check_node_credentials(creds, node_id=node_id, now=NOW + dt.timedelta(days=1))
    assert creds.root == read_certificate(machines["root"] / "root" / "ca.crt")
    # The city's chain is its CA then its province's; the others' only their CA.
    assert len(creds.chain) == (2 if node_id == "330500" else 1)


def test_a_node_issues_its_clients_without_the_root_folder(machines: dict[str, Path]) -> None:
    path = issue_client(machines["330500"], node_id="330500", name="audit-1", role="auditor")
    client = load_client_credentials(path)
    identity = verify_peer_certificate(
        client.cert, client.chain, root=client.root, now=dt.datetime.now(dt.UTC)
    )
    assert (identity.node_id, identity.name, identity.role) == ("330500", "audit-1", "auditor")


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
def test_openssl_accepts_the_request_and_the_certificates(
    machines: dict[str, Path], tmp_path: Path
) -> None:
    assert OPENSSL is not None
    request = request_node_ca(tmp_path, node_id="330600")
    checked = subprocess.run(
        [OPENSSL, "req", "-in", str(request), "-noout", "-verify"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert "verify OK" in checked.stdout + checked.stderr
    city = machines["330500"] / "nodes" / "330500"
    at = str(int((NOW + dt.timedelta(days=1)).timestamp()))
    for leaf in ("tls.crt", "signing.crt"):
        verified = subprocess.run(
            [OPENSSL, "verify", "-attime", at, "-CAfile", str(city / "root.crt"),
             "-untrusted", str(city / "chain.pem"), str(city / leaf)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert verified.returncode == 0, verified.stderr
        assert verified.stdout.strip() == f"{city / leaf}: OK"


# -- attacks ---------------------------------------------------------------------------


def test_province_refuses_a_city_of_another_province(
    machines: dict[str, Path], tmp_path: Path
) -> None:
    request = request_node_ca(tmp_path, node_id="110100")
    with pytest.raises(SignatureError) as refused:
        sign_node_request(machines["330000"], request.read_bytes(), signer="330000", now=NOW)
    assert str(refused.value) == (
        "the CA of 330000 may not sign the node CA of 110100: outside its name constraints "
        "(a city node CA is signed by the CA of 110000)"
    )


@pytest.mark.parametrize(
    ("node_id", "signer", "proper"),
    [
        ("330000", "330000", "the federation root"),  # a province signing itself anew
        ("110000", "330000", "the federation root"),  # a province signing a province
        ("330600", "root", "the CA of 330000"),  # the root signing a city directly
        ("330600", "330500", "the CA of 330000"),  # a city signing its sibling
    ],
)
def test_signer_outside_its_place_in_the_tree_is_refused(
    machines: dict[str, Path], tmp_path: Path, node_id: str, signer: str, proper: str
) -> None:
    request = request_node_ca(tmp_path, node_id=node_id)
    store = machines["root"] if signer == "root" else machines[signer[:2] + "0000"]
    with pytest.raises(SignatureError, match=f"is signed by {proper}\\)$"):
        sign_node_request(store, request.read_bytes(), signer=signer, now=NOW)


def test_request_naming_a_client_too_is_refused(machines: dict[str, Path]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    names = [
        x509.UniformResourceIdentifier("urn:credit-gateway:node:330600"),
        x509.UniformResourceIdentifier("urn:credit-gateway:client:330000:admin"),
    ]
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(MalformedError) as refused:
        sign_node_request(
            machines["330000"], request.public_bytes(Encoding.PEM), signer="330000", now=NOW
        )
    assert str(refused.value) == (
        "a node CA request names exactly one node URI, not: "
        "urn:credit-gateway:node:330600, urn:credit-gateway:client:330000:admin"
    )


def test_request_with_a_forged_signature_is_refused(
    machines: dict[str, Path], tmp_path: Path
) -> None:
    pem = request_node_ca(tmp_path, node_id="330600").read_bytes()
    der = bytearray(x509.load_pem_x509_csr(pem).public_bytes(Encoding.DER))
    der[-3] ^= 0x01  # inside the signature value
    body = base64.encodebytes(bytes(der)).decode("ascii")
    forged = f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(SignatureError) as refused:
        sign_node_request(machines["330000"], forged.encode("ascii"), signer="330000", now=NOW)
    assert str(refused.value) == "the request's signature does not verify with its own key"


def test_ca_signed_outside_the_constraints_is_refused_by_verification(
    machines: dict[str, Path], tmp_path: Path
) -> None:
    """A province that skipped `pki sign`'s check: peers still refuse what it signed."""
    province = load_node_credentials(machines["330000"] / "nodes" / "330000")
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue_ca = node_ca_certificate(
        "110100",
        rogue_key.public_key(),
        issuer=province.ca_cert,
        issuer_key=province.ca_key,
        federation="Test federation",
        now=NOW,
    )
    leaf, _key = make_tls_certificate("110100", "127.0.0.1", ca=rogue_ca, ca_key=rogue_key, now=NOW)
    with pytest.raises(SignatureError) as refused:
        verify_peer_certificate(
            leaf, [rogue_ca, province.ca_cert], root=province.root, now=NOW + dt.timedelta(days=1)
        )
    assert str(refused.value) == (
        "node CA of 110100 is signed by the CA of node 330000, not of its parent 110000"
    )


def test_install_refuses_a_certificate_for_another_key(
    machines: dict[str, Path], tmp_path: Path
) -> None:
    request_node_ca(tmp_path, node_id="330600")
    other = request_node_ca(tmp_path / "other", node_id="330600")
    bundle = sign_node_request(machines["330000"], other.read_bytes(), signer="330000", now=NOW)
    with pytest.raises(ConfigurationError, match="is not for this node's CA key"):
        install_node_ca(
            tmp_path,
            node_id="330600",
            bundle_pem=bundle,
            root_pem=(machines["root"] / "root" / "ca.crt").read_bytes(),
            host="127.0.0.1",
            now=NOW,
        )
    assert not (tmp_path / "nodes" / "330600" / "tls.key").exists()
    # The CA key made by the request never left its folder, and is private.
    key = tmp_path / "nodes" / "330600" / "ca.key"
    assert key.stat().st_mode & 0o777 == 0o600
    read_ec_private_key(key)


def test_install_refuses_a_ca_signed_by_another_root(
    machines: dict[str, Path], tmp_path: Path
) -> None:
    """An answer from a rogue 'root' is checked against the root the operator holds."""
    rogue = tmp_path / "rogue-root"
    init_federation(rogue, name="Test federation", now=NOW)
    request = request_node_ca(tmp_path, node_id="000000")
    bundle = sign_node_request(rogue, request.read_bytes(), signer="root", now=NOW)
    with pytest.raises(ConfigurationError, match=r"chain does not lead to the root"):
        install_node_ca(
            tmp_path,
            node_id="000000",
            bundle_pem=bundle,
            root_pem=(machines["root"] / "root" / "ca.crt").read_bytes(),
            host="127.0.0.1",
            now=NOW,
        )
    assert not (tmp_path / "nodes" / "000000" / "ca.crt").exists()
