"""The flat SD-JWT: the accepting path of RFC 9901 processing for the shape of every record.

Flat means no claim and no Disclosure value is an object or an array. Such a
payload needs no recursive walk: each top-level digest names at most one
Disclosure, and every Disclosure must be named once. This path only accepts;
anything else is left to the general processor, which raises the precise error.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from gateway.core.disclosure import (
    ELLIPSIS_KEY,
    SD_ALG,
    SD_ALG_KEY,
    SD_KEY,
    Disclosure,
)
from gateway.core.limits import Limits

__all__ = ["flat_digests", "process_flat"]


def flat_digests(
    payload: dict[str, Any], digests: Collection[str], limits: Limits
) -> list[str] | None:
    """The top-level digests of a flat payload that names each Disclosure once, or None.

    ``digests``: the digests of the Disclosures received.

    Flat and plain: ``_sd`` a list of strings (none when absent), the default
    ``_sd_alg``, no ``...`` key and no other claim an object or an array; each
    digest listed once; each Disclosure received once and named by one of the
    digests. At anything else None: the general processor raises the precise error.

    Raises:
        LimitExceededError: more digests than ``limits`` allow (counted as
            the general processor counts them for a flat record).
    """
    sd = payload.get(SD_KEY, [])
    if type(sd) is not list or payload.get(SD_ALG_KEY, SD_ALG) != SD_ALG:
        return None
    for key, value in payload.items():
        if key == ELLIPSIS_KEY or (key != SD_KEY and isinstance(value, dict | list)):
            return None
    # Strings first: a set of the digests is made only of what can be hashed.
    if not all(type(digest) is str for digest in sd):
        return None
    limits.check_count("digests in SD-JWT", len(sd), limits.max_sd_digests_per_record)
    listed = set(sd)
    named = set(digests)
    if len(listed) != len(sd) or len(named) != len(digests) or not named <= listed:
        return None
    return sd


def process_flat(
    payload: dict[str, Any], disclosures: Sequence[Disclosure], limits: Limits
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
    """Claims, disclosed claims and visible claims of a flat, well-formed record, or None.

    The three are what the general processor of :mod:`gateway.core.sdjwt` makes
    of the same record.

    Flat: no claim and no Disclosure value is an object or an array, the shape of
    every record. Only the accepting path is taken here: at the first thing that
    is not plainly valid (a wrong ``_sd_alg``, a duplicate or unreferenced
    Disclosure, a repeated digest, a name collision, anything nested) it returns
    None, and the caller runs the general processor, which raises the precise
    error. What it accepts, the general processor accepts with the same result.

    Raises:
        LimitExceededError: more digests than ``limits`` allow (counted as
            the general processor counts them for a flat record).
    """
    sd = flat_digests(payload, [d.digest for d in disclosures], limits)
    if sd is None:
        return None
    visible = {k: v for k, v in payload.items() if k not in (SD_KEY, SD_ALG_KEY)}
    claims = dict(visible)
    by_digest = {d.digest: d for d in disclosures}
    for digest in sd:
        disclosure = by_digest.get(digest)
        if disclosure is None:
            continue  # a decoy, or a Disclosure the holder did not send
        name = disclosure.name
        if name is None or name in claims or isinstance(disclosure.value, dict | list):
            return None
        claims[name] = disclosure.value
    # Every Disclosure is a top-level claim: disclosed in received order, as the general processor.
    disclosed = {d.name: d.value for d in disclosures if d.name is not None}
    return claims, disclosed, visible
