"""The flat SD-JWT: the accepting path of RFC 9901 processing for the shape of every record.

Flat means no claim and no Disclosure value is an object or an array. Such a
payload needs no recursive walk: each top-level digest names at most one
Disclosure, and every Disclosure must be named once. This path only accepts;
anything else is left to the general processor, which raises the precise error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.core.disclosure import ELLIPSIS_KEY, SD_ALG, SD_ALG_KEY, SD_KEY, Disclosure
from gateway.core.limits import Limits

__all__ = ["process_flat"]


def _visible(payload: dict[str, Any], sd: Any) -> dict[str, Any] | None:
    """The visible claims of a flat payload with a plain ``_sd`` and ``_sd_alg``, or None."""
    if type(sd) is not list or payload.get(SD_ALG_KEY, SD_ALG) != SD_ALG:
        return None
    visible: dict[str, Any] = {}
    for key, value in payload.items():
        if key in (SD_KEY, SD_ALG_KEY):
            continue
        if key == ELLIPSIS_KEY or isinstance(value, dict | list):
            return None
        visible[key] = value
    if not all(type(digest) is str for digest in sd):
        return None
    return visible


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
    sd = payload.get(SD_KEY, [])
    visible = _visible(payload, sd)
    if visible is None:
        return None
    limits.check_count("digests in SD-JWT", len(sd), limits.max_sd_digests_per_record)
    by_digest = {d.digest: d for d in disclosures}
    if len(by_digest) != len(disclosures) or len(set(sd)) != len(sd):
        return None
    claims = dict(visible)
    referenced = 0
    for digest in sd:
        disclosure = by_digest.get(digest)
        if disclosure is None:
            continue  # a decoy, or a Disclosure the holder did not send
        name = disclosure.name
        if name is None or name in claims or isinstance(disclosure.value, dict | list):
            return None
        claims[name] = disclosure.value
        referenced += 1
    if referenced != len(disclosures):
        return None
    # Every Disclosure is a top-level claim: disclosed in received order, as the general processor.
    disclosed = {d.name: d.value for d in disclosures if d.name is not None}
    return claims, disclosed, visible
