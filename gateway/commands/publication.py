"""``gateway publication verify|export``: the public feed, checked and as files.

``verify`` reads a node's feed over HTTP as a website would and checks every
entry against the federation's root certificate. ``export`` is an operator's
command on the node's host: what the feed publishes now, as files in the
national 双公示 layout (field codes, or Chinese labels with ``--labels``), for
offices that upload files; it is audited as the operator.
"""

from __future__ import annotations

import csv
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import click
from cryptography import x509

from gateway.app.operator import operator_session
from gateway.commands._common import emit_json, handle_errors, json_option, say
from gateway.commands._display import csv_cell
from gateway.commands.outbox import config_option
from gateway.core.algorithms import Ed25519Signer
from gateway.core.catalog import Catalog
from gateway.core.errors import ConfigurationError, PeerUnavailableError
from gateway.core.records import display_fields
from gateway.node.catalog_files import load_packaged_catalog
from gateway.node.publication import MAX_FEED_PAGE, PublicationFeed
from gateway.node.publication_check import PublishedEntry, check_feed
from gateway.pki import load_node_credentials, signing_kid

__all__ = ["publication"]

_TIMEOUT_S = 30.0
_MAX_BODY = 64 * 1024 * 1024


@click.group()
def publication() -> None:
    """The public publication feed (双公示): check it, or export it as files."""


def _fetcher(base: str) -> Callable[[str], bytes]:
    base = base.rstrip("/")

    def fetch(path: str) -> bytes:
        try:
            with urllib.request.urlopen(base + path, timeout=_TIMEOUT_S) as answer:  # noqa: S310 - the operator's URL
                return bytes(answer.read(_MAX_BODY))
        except urllib.error.HTTPError as exc:
            raise PeerUnavailableError(f"GET {base}{path}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise PeerUnavailableError(f"GET {base}{path}: {exc}") from exc

    return fetch


@publication.command("verify")
@click.argument("url")
@click.option(
    "--root",
    "root_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The federation's root certificate (PEM), obtained out of band.",
)
@json_option
@handle_errors
def publication_verify(*, url: str, root_path: Path, as_json: bool) -> None:
    """Read the feed at URL (http://host:port) and check every entry; exit 1 on the first
    that does not check, naming it."""
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"{url!r} is not an http:// or https:// URL")
    root = x509.load_pem_x509_certificate(root_path.read_bytes())
    found = check_feed(_fetcher(url), root=root, now=time.time)
    summary = {
        "url": url,
        "pages": found.pages,
        "published_entries": found.published,
        "withdrawn_entries": found.withdrawn,
        "published_now": len(found.current),
        "verified": True,
    }
    if as_json:
        emit_json(summary)
        return
    say(
        f"verified {found.published} publish and {found.withdrawn} withdraw entries "
        f"in {found.pages} pages; {len(found.current)} records published now"
    )


@publication.command("export")
@config_option
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="jsonl: this file. csv: one file per category, OUT-<category>.csv.",
)
@click.option("--labels", is_flag=True, help="CSV headers in Chinese labels, not field codes.")
@json_option
@handle_errors
def publication_export(
    *, config_path: Path, fmt: str, out: Path, labels: bool, as_json: bool
) -> None:
    """What the feed publishes now, as files in the national 双公示 layout."""
    with operator_session(config_path) as session:
        config = session.config
        catalog = load_packaged_catalog(config.node_id)
        creds = load_node_credentials(config.keys)
        feed = PublicationFeed(
            node_id=config.node_id,
            catalog=catalog,
            store=session.store,
            signer=Ed25519Signer(signing_kid(creds.signing_cert), creds.signing_key),
            clock=session.now,
            settle_s=0,
        )
        current: dict[tuple[str, int], PublishedEntry] = {}
        after, end = 0, False
        while not end:
            page = feed.page(after, MAX_FEED_PAGE)
            for entry in page.entries:
                key = (entry.record_id, entry.version)
                if entry.sd_jwt is not None:
                    current[key] = PublishedEntry(
                        entry.issuer,
                        entry.record_id,
                        entry.version,
                        entry.category,
                        display_fields(entry.sd_jwt),
                    )
                else:
                    current.pop(key, None)
            after, end = page.next, page.end
        written = _write(current, catalog, fmt, out, labels=labels)
        session.audit("publication.export", f"{len(current)} records to {', '.join(written)}")
    if as_json:
        emit_json({"records": len(current), "files": written})
        return
    say(f"exported {len(current)} published records to {', '.join(written) or 'no file'}")


def _write(
    current: dict[tuple[str, int], PublishedEntry],
    catalog: Catalog,
    fmt: str,
    out: Path,
    *,
    labels: bool,
) -> list[str]:
    entries = sorted(current.values(), key=lambda e: (e.category, e.issuer, e.record_id, e.version))
    if fmt == "jsonl":
        with out.open("w", encoding="utf-8") as handle:
            for e in entries:
                line = {
                    "category": e.category,
                    "issuer": e.issuer,
                    "record_id": e.record_id,
                    "version": e.version,
                    "fields": e.fields,
                }
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        return [str(out)]
    written: list[str] = []
    for code in sorted({e.category for e in entries}):
        specs = catalog.category(code).fields
        path = out.with_name(f"{out.stem}-{code}.csv")
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([s.label if labels else s.code for s in specs])
            for e in entries:
                if e.category == code:
                    writer.writerow([csv_cell(e.fields.get(s.code, "")) for s in specs])
        written.append(str(path))
    return written
