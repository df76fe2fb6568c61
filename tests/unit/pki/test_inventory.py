"""``gateway pki list``: every certificate of a keystore with its expiry, soonest first."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from click.testing import CliRunner

from gateway.commands.pki import pki
from gateway.pki import fingerprint, init_federation, issue_client, issue_node
from gateway.pki.inventory import keystore_certificates
from gateway.pki.keystore import read_certificate

DAY = dt.timedelta(days=1)


def _keystore(base: Path, now: dt.datetime) -> Path:
    """Root and node 000000 issued 340 days before ``now`` (leaves: 25 days left), a client
    issued at ``now``."""
    issued = now - 340 * DAY
    init_federation(base, now=issued)
    issue_node(base, node_id="000000", parent_id=None, host="127.0.0.1", now=issued)
    issue_client(base, node_id="000000", name="audit-1", role="auditor", now=now)
    return base


def test_lists_every_certificate_soonest_first(tmp_path: Path) -> None:
    now = dt.datetime(2031, 6, 1, tzinfo=dt.UTC)
    base = _keystore(tmp_path, now)
    found = keystore_certificates(base, now=now, warn_within=30 * DAY)
    assert [(c.path, c.owner, c.kind, c.state) for c in found] == [
        ("nodes/000000/signing.crt", "000000", "signing", "expiring"),
        ("nodes/000000/tls.crt", "000000", "tls", "expiring"),
        ("clients/000000-audit-1/client.crt", "000000-audit-1", "client", "valid"),
        ("nodes/000000/ca.crt", "000000", "node-ca", "valid"),
        ("root/ca.crt", "root", "root", "valid"),
    ]
    tls = found[1]
    assert tls.not_after == now - 340 * DAY + 365 * DAY
    assert tls.fingerprint == fingerprint(read_certificate(base / "nodes/000000/tls.crt"))
    assert tls.seconds_left(now) == 25 * 86_400
    # The same keystore, 26 days later: the leaves have expired.
    later = keystore_certificates(base, now=now + 26 * DAY, warn_within=30 * DAY)
    assert [c.state for c in later[:2]] == ["expired", "expired"]
    # Outside the window nothing is expiring.
    quiet = keystore_certificates(base, now=now, warn_within=20 * DAY)
    assert {c.state for c in quiet} == {"valid"}


def test_pki_list_command_reports_expiry_relative_to_now(tmp_path: Path) -> None:
    # Relative to the real clock: the leaves were issued 340 days before this run.
    base = _keystore(tmp_path, dt.datetime.now(dt.UTC))
    result = CliRunner().invoke(pki, ["list", "--dir", str(base), "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [(c["path"], c["state"]) for c in listed] == [
        ("nodes/000000/signing.crt", "expiring"),
        ("nodes/000000/tls.crt", "expiring"),
        ("clients/000000-audit-1/client.crt", "valid"),
        ("nodes/000000/ca.crt", "valid"),
        ("root/ca.crt", "valid"),
    ]
    assert [round(c["days_left"]) for c in listed[:2]] == [25, 25]
    text = CliRunner().invoke(pki, ["list", "--dir", str(base), "--warn-days", "30"])
    assert text.exit_code == 0, text.output
    assert "2 certificates expire within 30 days or have expired: renew them" in text.output
    assert "nodes/000000/tls.crt" in text.output
