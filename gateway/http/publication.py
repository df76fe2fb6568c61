"""The public publication feed over HTTP: read-only, no client certificate.

- ``GET /v1/feed?after=SEQ&limit=N``: a page of entries after a position
  (:mod:`gateway.node.publication`), with ``next`` to ask for next and ``end``
  once nothing settled is left; every response has an ``ETag`` (the SHA-256 of
  its body) and ``If-None-Match`` with that tag answers ``304 Not Modified``.
- ``GET /v1/directory``: the signed federation directory in force here (the
  national node's DSSE envelope and its signer's chain): with the federation's
  root certificate, it gives every issuer's signing keys and key history, which
  is what checks an entry.
- ``GET /openapi.json``: the checked-in OpenAPI description of the above.

It listens on its own port, plain HTTP (``[publication] listen``): the
operator puts the site's TLS proxy in front (the entries are signed, so the
proxy is trusted for confidentiality only, never for content). Reads are
counted on the node's metrics, not audited one by one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from importlib import resources

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.core.errors import InputError, StorageError
from gateway.node.publication import PublicationFeed
from gateway.node.trust import SignedDirectoryFile

__all__ = ["OPENAPI", "publication_app"]

OPENAPI = resources.files("gateway.http").joinpath("publication-openapi.json")
"""The checked-in OpenAPI description of the feed."""

_DEFAULT_PAGE = 100
_JSON = "application/json"


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _not_modified(request: Request, etag: str) -> bool:
    asked = request.headers.get("if-none-match", "")
    tags = {t.strip().removeprefix("W/") for t in asked.split(",") if t.strip()}
    return etag in tags or "*" in tags


def _integer(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise InputError(f"{name} must be a non-negative integer, got {text[:40]!r}")
    return int(text)


def publication_app(
    *,
    feed: PublicationFeed,
    directory: Callable[[], SignedDirectoryFile | None],
    count: Callable[[str, int], None],
) -> Starlette:
    """The feed's endpoints.

    Args:
        feed: the node's feed use case.
        directory: the signed directory in force (None before the first).
        count: notes one read (endpoint, HTTP status) on the node's metrics.
    """

    def answer(request: Request, endpoint: str, body: bytes, status: int = 200) -> Response:
        etag = _etag(body)
        if status == 200 and _not_modified(request, etag):
            count(endpoint, 304)
            return Response(status_code=304, headers={"ETag": etag})
        count(endpoint, status)
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        return Response(body, status_code=status, media_type=_JSON, headers=headers)

    def error(endpoint: str, status: int, message: str) -> Response:
        count(endpoint, status)
        return JSONResponse({"error": message}, status_code=status)

    def entries(request: Request) -> Response:
        try:
            after = _integer(request, "after", 0)
            limit = _integer(request, "limit", _DEFAULT_PAGE)
            page = feed.page(after, limit)
        except InputError as exc:
            return error("feed", 400, str(exc))
        except StorageError:
            return error("feed", 503, "the feed cannot be read now; try again later")
        return answer(request, "feed", page.to_json())

    def signed_directory(request: Request) -> Response:
        signed = directory()
        if signed is None:
            return error("directory", 503, "this node holds no federation directory yet")
        body = json.dumps(
            {
                "envelope": signed.envelope.decode("utf-8"),
                "signer_chain_pem": signed.signer_chain_pem.decode("ascii"),
            }
        ).encode()
        return answer(request, "directory", body)

    def openapi(request: Request) -> Response:
        return answer(request, "openapi", OPENAPI.read_bytes())

    return Starlette(
        routes=[
            Route("/v1/feed", entries, methods=["GET"]),
            Route("/v1/directory", signed_directory, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ]
    )
