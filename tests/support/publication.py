"""A node's publication feed in the in-process harness, and reading it whole."""

from __future__ import annotations

from gateway.core.algorithms import Ed25519Signer
from gateway.core.publication import FeedEntry
from gateway.node.catalog_files import load_packaged_catalog
from gateway.node.publication import PublicationFeed
from gateway.pki import signing_kid
from tests.support.harness import InProcessFederation

SETTLE_S = 2
"""How old a change must be before the feed reads it (advance the clock past it)."""


def feed_of(fed: InProcessFederation, node: str) -> PublicationFeed:
    """``node``'s feed, signing with its key, on the federation's clock."""
    creds = fed[node].creds
    return PublicationFeed(
        node_id=node,
        catalog=load_packaged_catalog(node),
        store=fed[node].store,
        signer=Ed25519Signer(signing_kid(creds.signing_cert), creds.signing_key),
        clock=lambda: int(fed.clock()),
        settle_s=SETTLE_S,
    )


def all_entries(feed: PublicationFeed, *, page: int = 2) -> list[FeedEntry]:
    """Every entry of the feed, read ``page`` changes at a time."""
    entries: list[FeedEntry] = []
    after, end = 0, False
    while not end:
        found = feed.page(after, page)
        entries.extend(found.entries)
        after, end = found.next, found.end
    return entries
