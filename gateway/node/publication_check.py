"""Checking a node's publication feed from outside, with the federation's root only.

What a 信用中国 website (or anyone) does with a feed: read the signed
directory it serves and check it against the root certificate, then read every
page and check every entry: a publish entry is an SD-JWT its issuer signed
(with a key the directory lists for it, valid when it was issued), for the
record the entry names; a withdraw entry is the issuer's status statement about
that record version, or, for expiry, a withdrawal signed by the serving node.
The first entry that does not check stops the run, named.

The HTTP reads go through ``fetch`` (a path -> body port), so the check runs
the same against a live server and in tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509

from gateway.core.algorithms import Verifier
from gateway.core.dsse import Envelope, verify_envelope
from gateway.core.errors import SignatureError, VerificationError
from gateway.core.limits import DEFAULT_LIMITS
from gateway.core.publication import WITHDRAWAL_TYPE, ExpiryWithdrawal
from gateway.core.records import display_fields, verify_record
from gateway.core.statements import STATUS_EFFECT, verify_statement
from gateway.node.trust import FederationTrust, SignedDirectoryFile

__all__ = ["FeedCheck", "PublishedEntry", "check_feed"]

_PAGE = 200
# A feed longer than this many pages is not one a check should follow blindly.
_MAX_PAGES = 100_000


@dataclass(frozen=True, slots=True)
class PublishedEntry:
    """A record the feed publishes now, checked."""

    issuer: str
    record_id: str
    version: int
    category: str
    fields: dict[str, str]


@dataclass(slots=True)
class FeedCheck:
    """What a run found: every entry checked, and what stands published at the end."""

    published: int = 0
    withdrawn: int = 0
    pages: int = 0
    current: dict[tuple[str, int], PublishedEntry] = field(default_factory=dict)


def _issuer_keys(trust: FederationTrust, issuer: str) -> Callable[[str], Verifier]:
    def resolve(kid: str) -> Verifier:
        if trust.owner(kid) != issuer:
            raise SignatureError(f"key {kid!r} is not a signing key of node {issuer}")
        return trust.resolve(kid)

    return resolve


def check_feed(
    fetch: Callable[[str], bytes], *, root: x509.Certificate, now: Callable[[], float]
) -> FeedCheck:
    """Read and check a whole feed.

    Args:
        fetch: the body of ``GET <feed URL><path>`` (raises on an HTTP error).
        root: the federation's root certificate.
        now: the clock.

    Raises:
        VerificationError: the directory or an entry does not check (naming it).
        MalformedError: a page is not the feed's JSON.
    """
    doc = json.loads(fetch("/v1/directory"))
    trust = FederationTrust(node_id="000000", root=root, clock=now)
    trust.install(
        SignedDirectoryFile(
            envelope=str(doc["envelope"]).encode(),
            signer_chain_pem=str(doc["signer_chain_pem"]).encode(),
        )
    )
    found = FeedCheck()
    after = 0
    for _ in range(_MAX_PAGES):
        page = json.loads(fetch(f"/v1/feed?after={after}&limit={_PAGE}"))
        found.pages += 1
        for entry in page["entries"]:
            _check_entry(entry, trust, found, int(now()))
        after = int(page["next"])
        if page["end"]:
            return found
    raise VerificationError(f"the feed did not end within {_MAX_PAGES} pages")


def _check_entry(
    entry: dict[str, object], trust: FederationTrust, found: FeedCheck, now: int
) -> None:
    where = f"entry {entry.get('seq')} ({entry.get('record_id')} v{entry.get('version')})"
    try:
        if entry["kind"] == "publish":
            published = _check_publish(entry, trust, now)
            found.current[(published.record_id, published.version)] = published
            found.published += 1
        else:
            record_id, version = _check_withdraw(entry, trust, now)
            found.current.pop((record_id, version), None)
            found.withdrawn += 1
    except (VerificationError, KeyError, TypeError, ValueError) as exc:
        raise VerificationError(f"{where} does not check: {exc}") from exc


def _check_publish(entry: dict[str, object], trust: FederationTrust, now: int) -> PublishedEntry:
    sd_jwt = str(entry["sd_jwt"])
    record = verify_record(sd_jwt, resolve_key=trust.resolve, key_owner=trust.owner, now=now)
    trust.check_issued_within(record.key_id, record.issued_at)
    named = (str(entry["issuer"]), str(entry["record_id"]), int(str(entry["version"])))
    if (record.issuer, record.record_id, record.version) != named:
        raise VerificationError("the SD-JWT is another record than the entry names")
    return PublishedEntry(*named, str(entry["category"]), display_fields(sd_jwt))


def _check_withdraw(entry: dict[str, object], trust: FederationTrust, now: int) -> tuple[str, int]:
    issuer, record_id = str(entry["issuer"]), str(entry["record_id"])
    version = int(str(entry["version"]))
    envelope = Envelope.from_json(str(entry["envelope"]).encode())
    if entry["reason"] == "expired":
        node = str(entry["signed_by"])
        payload = verify_envelope(
            envelope, expected_type=WITHDRAWAL_TYPE, resolve_key=_issuer_keys(trust, node)
        )
        withdrawal = ExpiryWithdrawal.from_payload(payload)
        named = (withdrawal.issuer, withdrawal.record_id, withdrawal.version)
        if withdrawal.expired_at > now + DEFAULT_LIMITS.clock_skew_s:
            raise VerificationError(f"the withdrawal says it expired at {withdrawal.expired_at}")
    else:
        statement = verify_statement(envelope, resolve_key=_issuer_keys(trust, issuer))
        named = (statement.issuer, statement.record_id, statement.version)
        if STATUS_EFFECT[statement.kind].value != entry["reason"]:
            raise VerificationError(f"a {statement.kind.value} statement is not {entry['reason']}")
    if named != (issuer, record_id, version):
        raise VerificationError("the signed withdrawal is about another record than the entry")
    return record_id, version
