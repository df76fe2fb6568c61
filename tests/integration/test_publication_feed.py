"""The 双公示 publication feed against a real `gateway serve` (uvicorn, plain HTTP):
a record marked 不宜公开 never appears; an HTTP client pages through the feed;
every response matches the checked-in OpenAPI description; every publish entry
verifies with the `sd-jwt` reference package using the keys of the signed
directory the feed serves; ETags answer 304; a revocation withdraws an entry;
`gateway publication verify` and `export` work; reads are counted."""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography import x509
from jwcrypto.jwk import JWK  # type: ignore[import-untyped]  # no stubs; test-only
from sd_jwt.verifier import SDJWTVerifier

from gateway.http.publication import OPENAPI
from gateway.node.local_federation import free_port
from gateway.node.trust import FederationTrust, SignedDirectoryFile
from gateway.pki import signing_kid
from tests.support.cluster import Cluster, make_cluster, running
from tests.support.federation import run_gateway
from tests.support.node_config import set_config_keys
from tests.support.operations import http_get, scrape
from tests.support.records import penalty_fields

HUZHOU = "330500"
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3)
CLIENTS = [(HUZHOU, "procurement-office", "department", "procurement")]
SPEC = json.loads(OPENAPI.read_bytes())


def ROOT_FILE(cluster: Cluster) -> Path:  # noqa: N802 - reads as the constant it is
    """The federation's root certificate, as a website holds it (out of band)."""
    return cluster.keystore.root / "root" / "ca.crt"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Cluster, str, str]]:
    # Only the city runs: its pushes wait for a province that is not there.
    built = make_cluster(tmp_path, ["000000", "330000", HUZHOU], clients=CLIENTS)
    feed, ops = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    set_config_keys(
        built.configs[HUZHOU], "publication", listen=feed.removeprefix("http://"), settle_s=0
    )
    set_config_keys(built.configs[HUZHOU], "operations", listen=ops.removeprefix("http://"))
    with running(built, [HUZHOU]) as started:
        yield started, feed, ops


def _valid(body: bytes, schema: str) -> Any:
    doc = json.loads(body)
    jsonschema.validate(
        doc, {"$ref": f"#/components/schemas/{schema}", "components": SPEC["components"]}
    )
    return doc


def _pages(feed: str, after: int = 0) -> tuple[list[dict[str, Any]], int]:
    entries: list[dict[str, Any]] = []
    for _ in range(50):
        status, body = http_get(f"{feed}/v1/feed?after={after}&limit=1")
        assert status == 200, body
        page = _valid(body, "FeedPage")
        entries += page["entries"]
        after = page["next"]
        if page["end"]:
            return entries, after
    raise AssertionError("the feed did not end")


def _json_lines(*args: str) -> list[dict[str, Any]]:
    result = run_gateway(*args, "--json")
    assert result.returncode == 0, result.stderr + result.stdout
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_a_website_pages_verifies_and_sees_a_withdrawal(
    cluster: tuple[Cluster, str, str], tmp_path: Path
) -> None:
    built, feed, ops = cluster
    client = ["--as", str(built.client(HUZHOU, "procurement-office"))]
    client += ["--endpoint", built.endpoint(HUZHOU)]
    source = tmp_path / "penalties.jsonl"
    lines: list[dict[str, Any]] = [
        {"category": "admin_penalty", "fields": penalty_fields(i, decided=DECIDED)} for i in (1, 2)
    ]
    # A third penalty its department marks 不宜公开: stored and shared, never published.
    withheld = {
        "category": "admin_penalty",
        "fields": penalty_fields(3, decided=DECIDED),
        "not_public": "涉及国家秘密",
    }
    source.write_text(
        "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in [*lines, withheld]), "utf-8"
    )
    submitted = _json_lines("submit", *client, str(source))
    assert [r["outcome"] for r in submitted] == ["accepted"] * 3
    ids = [r["record_id"] for r in submitted[:2]]

    entries, position = _pages(feed)
    assert [(e["kind"], e["record_id"]) for e in entries] == [("publish", i) for i in ids]

    # The keys come from the signed directory the feed serves, checked against the root.
    status, body = http_get(f"{feed}/v1/directory")
    assert status == 200
    served = _valid(body, "SignedDirectory")
    root = x509.load_pem_x509_certificate(ROOT_FILE(built).read_bytes())
    trust = FederationTrust(node_id="000000", root=root, clock=time.time)
    directory = trust.install(
        SignedDirectoryFile(served["envelope"].encode(), served["signer_chain_pem"].encode())
    )
    keys = {
        signing_kid(cert): cert.public_key()
        for cert in x509.load_pem_x509_certificates(directory.nodes[HUZHOU].signing_pem.encode())
    }
    for entry, line in zip(entries, lines, strict=True):
        claims = SDJWTVerifier(
            entry["sd_jwt"], lambda _iss, header: JWK.from_pyca(keys[header["kid"]])
        ).get_verified_payload()
        assert (claims["iss"], claims["XDR_MC"], claims["CF_WSH"]) == (
            HUZHOU,
            line["fields"]["XDR_MC"],
            line["fields"]["CF_WSH"],
        )
        assert "FR_ZJHM" not in claims  # personal data: only its masked variant
        assert claims["FR_ZJHM#masked"] != line["fields"]["FR_ZJHM"]

    # An unchanged page answers 304 to its ETag.
    with urllib.request.urlopen(f"{feed}/v1/feed?after=0&limit=5", timeout=10) as answer:
        etag = answer.headers["ETag"]
    request = urllib.request.Request(
        f"{feed}/v1/feed?after=0&limit=5", headers={"If-None-Match": etag}
    )
    with pytest.raises(urllib.error.HTTPError) as unchanged:
        urllib.request.urlopen(request, timeout=10)
    assert unchanged.value.code == 304
    status, body = http_get(f"{feed}/v1/feed?after=-1")
    assert status == 400
    assert _valid(body, "Error") == {"error": "after must be a non-negative integer, got '-1'"}

    # The department revokes its first penalty: the next page withdraws it.
    _json_lines("records", "status", *client, ids[0], "--kind", "revocation", "--reason", "撤销")
    more, _ = _pages(feed, position)
    assert [(e["kind"], e["record_id"], e["reason"], e["signed_by"]) for e in more] == [
        ("withdraw", ids[0], "revoked", HUZHOU)
    ]

    [checked] = _json_lines("publication", "verify", feed, "--root", str(ROOT_FILE(built)))
    assert (checked["verified"], checked["published_now"], checked["withdrawn_entries"]) == (
        True,
        1,
        1,
    )

    out = tmp_path / "export"
    [exported] = _json_lines(
        "publication", "export", "--config", str(built.configs[HUZHOU]),
        "--format", "csv", "--out", str(out),
    )  # fmt: skip
    assert exported["records"] == 1
    with (tmp_path / "export-admin_penalty.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["CF_WSH"], r["XDR_MC"]) for r in rows] == [
        (lines[1]["fields"]["CF_WSH"], lines[1]["fields"]["XDR_MC"])
    ]
    assert rows[0]["FR_ZJHM"] != lines[1]["fields"]["FR_ZJHM"]

    samples = scrape(ops)
    assert (
        samples[("gateway_publication_requests_total", (("endpoint", "feed"), ("status", "200")))]
        >= 4
    )
    assert (
        samples[("gateway_publication_requests_total", (("endpoint", "feed"), ("status", "304")))]
        == 1
    )
