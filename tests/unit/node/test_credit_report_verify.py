"""A credit report file checks offline: signed by the node it names, under the root.

Real keys from a real keystore; each forgery is built for real and refused.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.core.algorithms import Ed25519Signer
from gateway.core.credit_report import (
    CREDIT_REPORT_TYPE,
    CreditReport,
    ReportFile,
)
from gateway.core.dsse import sign_envelope
from gateway.core.errors import ExpiredError, MalformedError, SignatureError
from gateway.node.credit_reports import verify_report_file
from gateway.pki import NodeCredentials, load_node_credentials
from gateway.pki.names import signing_kid
from gateway.rpc.audit import signing_chain_pem
from tests.support.credit_report import REPORT
from tests.support.federation import Keystore
from tests.support.harness import keystore_for

NATIONAL, ZHEJIANG, HUZHOU, LISHUI = "000000", "330000", "330500", "331100"


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    return keystore_for(tmp_path_factory.mktemp("keys"), (NATIONAL, ZHEJIANG, HUZHOU, LISHUI))


def _creds(keystore: Keystore, node: str) -> NodeCredentials:
    return load_node_credentials(keystore.node(node))


def _signed(creds: NodeCredentials, report: CreditReport = REPORT) -> bytes:
    signer = Ed25519Signer(signing_kid(creds.signing_cert), creds.signing_key)
    envelope = sign_envelope(CREDIT_REPORT_TYPE, report.to_json(), signer)
    return ReportFile(envelope, signing_chain_pem(creds).decode()).to_json()


def test_a_report_signed_by_its_node_verifies_and_reads_back_exactly(keystore: Keystore) -> None:
    creds = _creds(keystore, HUZHOU)
    assert verify_report_file(_signed(creds), root=creds.root) == REPORT


def test_a_changed_payload_is_refused(keystore: Keystore) -> None:
    creds = _creds(keystore, HUZHOU)
    doc = json.loads(_signed(creds))
    payload = json.loads(base64.b64decode(doc["envelope"]["payload"]))
    payload["lists"] = []  # hide the listing, keep the signature
    doc["envelope"]["payload"] = base64.b64encode(
        json.dumps(payload, ensure_ascii=False).encode()
    ).decode()
    with pytest.raises(SignatureError, match="does not verify"):
        verify_report_file(json.dumps(doc).encode(), root=creds.root)


def test_a_report_claiming_another_node_is_refused(keystore: Keystore) -> None:
    # Lishui signs a report that says Huzhou made it.
    lishui = _creds(keystore, LISHUI)
    with pytest.raises(SignatureError, match=f"names node {LISHUI}, expected {HUZHOU}"):
        verify_report_file(_signed(lishui), root=lishui.root)


def test_a_report_from_another_federation_is_refused(keystore: Keystore, tmp_path: Path) -> None:
    stranger = keystore_for(tmp_path / "other", (NATIONAL, ZHEJIANG, HUZHOU))
    forged = _signed(_creds(stranger, HUZHOU))
    with pytest.raises(SignatureError, match="does not chain to the federation root"):
        verify_report_file(forged, root=_creds(keystore, HUZHOU).root)


def test_a_report_made_before_its_certificate_was_valid_is_refused(keystore: Keystore) -> None:
    creds = _creds(keystore, HUZHOU)
    early = replace(
        REPORT, generated_at=int(creds.signing_cert.not_valid_before_utc.timestamp()) - 10
    )
    with pytest.raises(ExpiredError, match="certificate not yet valid at"):
        verify_report_file(_signed(creds, early), root=creds.root)


def test_what_is_not_a_report_file_is_named(keystore: Keystore) -> None:
    root = _creds(keystore, HUZHOU).root
    with pytest.raises(MalformedError, match="report file must be a JSON object"):
        verify_report_file(b"[]", root=root)
    with pytest.raises(MalformedError, match="is not a credit-report-file/1 report file"):
        verify_report_file(b'{"format": "x", "envelope": {}, "certificate_chain": ""}', root=root)
