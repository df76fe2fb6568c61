"""The publication feed of a node (in-process harness, injected clock): what it
publishes (the issuer's SD-JWT redacted for the public), what it withdraws and
with which signature, how it pages, and that a province's feed covers its
cities. The same feed is checked end to end by the outside checker."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from gateway.core.algorithms import Ed25519Signer
from gateway.core.dsse import Envelope, verify_envelope
from gateway.core.errors import InputError, VerificationError
from gateway.core.masking import MaskRule, apply_mask
from gateway.core.publication import WITHDRAWAL_TYPE, EntryKind, ExpiryWithdrawal, FeedEntry
from gateway.core.records import CHINA_STANDARD_TIME, display_fields, not_public_reason
from gateway.core.statements import StatusKind, verify_statement
from gateway.node.config import FederationSettings
from gateway.node.intake import IntakeOutcome, Submission
from gateway.node.publication import PublicationFeed
from gateway.node.publication_check import check_feed
from gateway.pki import signing_kid
from tests.support.federation import Keystore
from tests.support.harness import (
    InProcessFederation,
    department,
    keystore_for,
    migrated_template,
)
from tests.support.publication import SETTLE_S, all_entries, feed_of
from tests.support.records import penalty_fields

NATIONAL, ZHEJIANG, HUZHOU = "000000", "330000", "330500"
NODES = (NATIONAL, ZHEJIANG, HUZHOU)


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    return keystore_for(tmp_path_factory.mktemp("keys"), NODES)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def fed(tmp_path: Path, keystore: Keystore, template: Path) -> Iterator[InProcessFederation]:
    federation = InProcessFederation.build(
        tmp_path, keystore, NODES, settings=FederationSettings(), template=template
    )
    try:
        yield federation
    finally:
        federation.close()


def _penalty(fed: InProcessFederation, i: int, **fields: str) -> tuple[str, dict[str, str]]:
    today = dt.datetime.fromtimestamp(fed.clock(), CHINA_STANDARD_TIME).date()
    submitted = {**penalty_fields(i, decided=today - dt.timedelta(days=2)), **fields}
    [result] = fed[HUZHOU].submit([Submission(str(i), "admin_penalty", submitted)])
    assert result.outcome is IntakeOutcome.ACCEPTED, result.reason
    return result.record_id, submitted


def test_a_penalty_is_published_redacted_for_the_public_once_settled(
    fed: InProcessFederation,
) -> None:
    record_id, submitted = _penalty(fed, 1)
    feed = feed_of(fed, HUZHOU)
    first = feed.page(0, 10)
    assert (first.entries, first.next, first.end) == ((), 0, True)  # not settled yet
    fed.clock.advance(SETTLE_S)
    [entry] = feed.page(0, 10).entries
    assert (entry.kind, entry.issuer, entry.record_id, entry.version, entry.category) == (
        EntryKind.PUBLISH,
        HUZHOU,
        record_id,
        1,
        "admin_penalty",
    )
    assert entry.sd_jwt is not None
    shown = display_fields(entry.sd_jwt)
    assert shown["XDR_MC"] == submitted["XDR_MC"]
    assert shown["CF_WSH"] == submitted["CF_WSH"]
    # Personal data masked for the public; the issuer's JWT untouched.
    assert shown["FR_ZJHM"] == apply_mask(MaskRule.IDENTIFIER, submitted["FR_ZJHM"])
    assert submitted["FR_ZJHM"] not in entry.sd_jwt
    held = fed[HUZHOU].store.records.get(record_id, 1).sd_jwt
    assert held is not None
    assert entry.sd_jwt.split("~")[0] == held.split("~")[0]


def test_pages_follow_the_log_and_bad_positions_are_refused(fed: InProcessFederation) -> None:
    ids = [_penalty(fed, i)[0] for i in range(1, 6)]
    fed.clock.advance(SETTLE_S)
    feed = feed_of(fed, HUZHOU)
    assert [e.record_id for e in all_entries(feed)] == ids
    page = feed.page(0, 2)
    assert ([e.record_id for e in page.entries], page.end) == (ids[:2], False)
    rest = feed.page(page.next, 10)
    assert ([e.record_id for e in rest.entries], rest.end) == (ids[2:], True)
    assert feed.page(rest.next, 10).entries == ()
    with pytest.raises(InputError, match="limit must be between 1 and 500, got 501"):
        feed.page(0, 501)
    with pytest.raises(InputError, match="after must be 0 or more, got -1"):
        feed.page(-1, 10)


def test_a_revocation_withdraws_with_the_issuers_statement_at_every_holder(
    fed: InProcessFederation,
) -> None:
    record_id, _ = _penalty(fed, 1)
    while fed[HUZHOU].push_round():
        pass
    fed.clock.advance(SETTLE_S)
    feeds = {node: feed_of(fed, node) for node in (HUZHOU, ZHEJIANG)}
    read = {node: feed.page(0, 10) for node, feed in feeds.items()}
    for page in read.values():  # the province's feed covers its city
        [publish] = page.entries
        assert (publish.kind, publish.record_id) == (EntryKind.PUBLISH, record_id)
    fed[HUZHOU].federation.statuses.issue(
        department(HUZHOU),
        kind=StatusKind.REVOCATION,
        record_id=record_id,
        version=1,
        reason="撤销处罚决定",
    )
    while fed[HUZHOU].push_round():
        pass
    fed.clock.advance(SETTLE_S)
    issuer = fed[HUZHOU].creds
    verifier = Ed25519Signer(signing_kid(issuer.signing_cert), issuer.signing_key).verifier()
    for node, feed in feeds.items():
        [withdraw] = feed.page(read[node].next, 10).entries
        assert (withdraw.kind, withdraw.record_id, withdraw.reason, withdraw.signed_by) == (
            EntryKind.WITHDRAW,
            record_id,
            "revoked",
            HUZHOU,
        )
        assert withdraw.signed is not None
        statement = verify_statement(
            Envelope.from_json(withdraw.signed), resolve_key=lambda _kid: verifier
        )
        assert (statement.kind, statement.record_id, statement.version) == (
            StatusKind.REVOCATION,
            record_id,
            1,
        )
        # Read from the start, a revoked record is never published: only its withdrawal.
        assert [e.kind for e in all_entries(feed)] == [EntryKind.WITHDRAW]


def test_an_expired_record_is_withdrawn_by_the_serving_node_and_never_served(
    fed: InProcessFederation,
) -> None:
    today = dt.datetime.fromtimestamp(fed.clock(), CHINA_STANDARD_TIME).date()
    # Its publication deadline ends disclosure three days from now.
    record_id, _ = _penalty(fed, 1, CF_GSJZQ=(today + dt.timedelta(days=3)).isoformat())
    feed = feed_of(fed, HUZHOU)
    fed.clock.advance(4 * 86_400)
    # Past its exp, before the sweeper ran: the publish entry is not served.
    assert all_entries(feed) == []
    assert fed[HUZHOU].federation.expiry.sweep() == 1
    fed.clock.advance(SETTLE_S)
    [withdraw] = all_entries(feed)
    assert (withdraw.kind, withdraw.record_id, withdraw.reason, withdraw.signed_by) == (
        EntryKind.WITHDRAW,
        record_id,
        "expired",
        HUZHOU,
    )
    assert withdraw.signed is not None
    creds = fed[HUZHOU].creds
    signer = Ed25519Signer(signing_kid(creds.signing_cert), creds.signing_key)
    payload = verify_envelope(
        Envelope.from_json(withdraw.signed),
        expected_type=WITHDRAWAL_TYPE,
        resolve_key=lambda _kid: signer.verifier(),
    )
    expired = ExpiryWithdrawal.from_payload(payload)
    assert (expired.node, expired.issuer, expired.record_id, expired.version) == (
        HUZHOU,
        HUZHOU,
        record_id,
        1,
    )


def _renamed(sd_jwt: str, name: str) -> str:
    """The SD-JWT with its XDR_MC disclosure replaced by one of another name (same salt)."""
    parts = sd_jwt.split("~")
    for i, part in enumerate(parts[1:-1], start=1):
        salt, field, _value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        if field == "XDR_MC":
            forged = json.dumps([salt, field, name], ensure_ascii=False).encode()
            parts[i] = base64.urlsafe_b64encode(forged).decode().rstrip("=")
            return "~".join(parts)
    raise AssertionError("no XDR_MC disclosure")


def _fetcher(
    fed: InProcessFederation, feed: PublicationFeed, pages: list[str]
) -> Callable[[str], bytes]:
    def fetch(path: str) -> bytes:
        pages.append(path)
        if path == "/v1/directory":
            signed = fed.signed_directory
            assert signed is not None
            return json.dumps(
                {
                    "envelope": signed.envelope.decode(),
                    "signer_chain_pem": signed.signer_chain_pem.decode(),
                }
            ).encode()
        query = dict(p.split("=") for p in path.split("?")[1].split("&"))
        return feed.page(int(query["after"]), int(query["limit"])).to_json()

    return fetch


def test_the_checker_verifies_every_entry_and_refuses_a_forged_one(
    fed: InProcessFederation,
) -> None:
    kept, _ = _penalty(fed, 1)
    revoked, _ = _penalty(fed, 2)
    fed[HUZHOU].federation.statuses.issue(
        department(HUZHOU), kind=StatusKind.REVOCATION, record_id=revoked, version=1, reason="x"
    )
    fed.clock.advance(SETTLE_S)
    feed = feed_of(fed, HUZHOU)
    root = fed[HUZHOU].creds.root
    found = check_feed(_fetcher(fed, feed, []), root=root, now=fed.clock)
    assert (found.published, found.withdrawn, sorted(found.current)) == (1, 1, [(kept, 1)])
    assert found.current[(kept, 1)].issuer == HUZHOU

    # A feed that swaps a field of a published entry: the issuer's signature breaks.
    honest = _fetcher(fed, feed, [])

    def tampering(path: str) -> bytes:
        body = honest(path)
        if not path.startswith("/v1/feed"):
            return body
        page = json.loads(body)
        for entry in page["entries"]:
            if entry["kind"] == "publish":
                entry["sd_jwt"] = _renamed(entry["sd_jwt"], "湖州另一企业有限公司")
        return json.dumps(page).encode()

    with pytest.raises(VerificationError, match=f"entry 1 \\({kept} v1\\) does not check"):
        check_feed(tampering, root=root, now=fed.clock)


def test_a_record_its_issuer_marked_not_public_is_never_published_anywhere(
    fed: InProcessFederation,
) -> None:
    today = dt.datetime.fromtimestamp(fed.clock(), CHINA_STANDARD_TIME).date()
    withheld = Submission(
        "1",
        "admin_penalty",
        penalty_fields(1, decided=today - dt.timedelta(days=2)),
        not_public="涉及国家秘密，依法不予公开",
    )
    [result] = fed[HUZHOU].submit([withheld])
    assert result.outcome is IntakeOutcome.ACCEPTED
    shown, _ = _penalty(fed, 2)
    while fed[HUZHOU].push_round():
        pass
    fed.clock.advance(SETTLE_S)
    stored = fed[ZHEJIANG].store.records.get(result.record_id, 1).sd_jwt
    assert stored is not None
    # The reason is signed into the record: every holder reads it, and withholds.
    assert not_public_reason(stored) == "涉及国家秘密，依法不予公开"
    for node in (HUZHOU, ZHEJIANG):
        assert [e.record_id for e in all_entries(feed_of(fed, node))] == [shown]


def test_a_page_reads_its_withdrawals_statements_in_one_query_whatever_its_size(
    fed: InProcessFederation,
) -> None:
    node = fed[HUZHOU]
    kept, _ = _penalty(fed, 1)
    revoked = [_penalty(fed, i)[0] for i in range(2, 8)]
    for record_id in revoked:
        node.federation.statuses.issue(
            department(HUZHOU),
            kind=StatusKind.REVOCATION,
            record_id=record_id,
            version=1,
            reason="撤销处罚决定",
        )
    fed.clock.advance(SETTLE_S)
    changes = node.store.changes.after(
        0, categories={"admin_penalty"}, until=int(fed.clock()), limit=100
    )
    assert len(changes) == 1 + 2 * len(revoked)
    expected = [
        FeedEntry(
            change.seq,
            EntryKind.WITHDRAW,
            HUZHOU,
            change.record_id,
            1,
            "admin_penalty",
            reason="revoked",
            signed=statement.envelope,
            signed_by=HUZHOU,
        )
        for change in changes
        if change.status == "revoked"
        for [statement] in [node.store.batches.statements(change.record_id)]
    ]
    assert [e.record_id for e in expected] == revoked

    statements: list[str] = []

    def count(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
        statements.append(sql)

    feed = feed_of(fed, HUZHOU)
    # The withdrawals follow the seven publications in the log: page through them only.
    after = changes[len(changes) - len(revoked) - 1].seq
    issued: dict[int, int] = {}
    event.listen(node.store.engine, "before_cursor_execute", count)
    try:
        for size in (1, 3, len(revoked)):
            statements.clear()
            page = feed.page(after, size)
            issued[size] = len(statements)
            assert list(page.entries) == expected[:size]
    finally:
        event.remove(node.store.engine, "before_cursor_execute", count)
    # The changes, their record versions, and their statements: three reads whatever the
    # page's size (each in its own transaction: a BEGIN on SQLite).
    assert issued == {1: 6, 3: 6, len(revoked): 6}
    # Read from the start, the page is the one publication left and every withdrawal.
    whole = feed.page(0, len(changes))
    assert [(e.kind, e.record_id) for e in whole.entries] == [
        (EntryKind.PUBLISH, kept),
        *((EntryKind.WITHDRAW, r) for r in revoked),
    ]
    assert list(whole.entries[1:]) == expected
