"""SD-JWT (RFC 9901): issue, redact, parse and strictly verify field-level-redactable records.

A record is an Issuer-signed JWT followed by its Disclosures, in compact
serialisation ``<jwt>~<d1>~...~<dn>~``. Redaction only removes Disclosures, so
the issuer's signature verifies at every hop. Key Binding (SD-JWT+KB) is not
used by the federation and is refused.

The verifier applies every rejection rule of RFC 9901 §7.1 and §7.3, and each
error names the failing Disclosure by its 1-based position in the received text.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gateway.core._jws import (
    b64url_decode,
    b64url_encode,
    dumps_compact,
    loads_strict,
    sign_compact,
    verify_compact,
)
from gateway.core.algorithms import Signer, Verifier
from gateway.core.disclosure import (
    ELLIPSIS_KEY,
    RESERVED_NAMES,
    SALT_BYTES,
    SD_ALG,
    SD_ALG_KEY,
    SD_KEY,
    Disclosure,
    decode_many,
    digest_of,
    remember,
)
from gateway.core.errors import (
    AlgorithmError,
    ClockSkewError,
    DisclosureError,
    ExpiredError,
    InputError,
    MalformedError,
)
from gateway.core.flat_sd_jwt import process_flat
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.core.recent import Recent

__all__ = [
    "DEFAULT_TYP",
    "SD_ALG",
    "Disclosure",
    "FlatParts",
    "ParsedSdJwt",
    "SignedJwt",
    "SignedSdJwt",
    "VerifiedSdJwt",
    "digest_of",
    "issue_sd_jwt",
    "parse_sd_jwt",
    "process_signed",
    "redact",
    "redact_flat",
    "verify_issuer_jwt",
    "verify_sd_jwt",
    "verify_signed",
]

DEFAULT_TYP = "vnd.credit-gateway.record+sd-jwt"
_DECOY_BYTES = 32
_MAX_DEPTH = 64
"""JSON nesting the processor follows, across Disclosures; deeper input is refused."""


@dataclass(frozen=True, slots=True)
class ParsedSdJwt:
    """An SD-JWT split into its parts; nothing verified yet."""

    issuer_jwt: str
    disclosures: tuple[Disclosure, ...]


@dataclass(frozen=True, slots=True)
class VerifiedSdJwt:
    """A verified SD-JWT.

    Attributes:
        header: the JOSE header of the Issuer-signed JWT.
        payload: the always-visible claims (every ``_sd``, undisclosed array
            element and ``_sd_alg`` removed).
        claims: the Processed SD-JWT Payload (RFC 9901 §7.1): payload with the
            disclosed values embedded.
        disclosed: top-level disclosed claim name -> value.
        disclosures: the Disclosures in received order.
        issuer_jwt: the Issuer-signed JWT exactly as received.
    """

    header: Mapping[str, Any]
    payload: Mapping[str, Any]
    claims: Mapping[str, Any]
    disclosed: Mapping[str, Any]
    disclosures: tuple[Disclosure, ...]
    issuer_jwt: str


@dataclass(frozen=True, slots=True)
class SignedJwt:
    """An SD-JWT whose Issuer-signed JWT verified; its Disclosures not decoded yet.

    Attributes:
        text: the SD-JWT exactly as received.
        issuer_jwt: its Issuer-signed JWT exactly as received.
        header: the JOSE header of the Issuer-signed JWT.
        payload: the signed payload as decoded (``_sd`` and ``_sd_alg`` still in it).
        encoded: the Disclosures as received, in order (each non-empty).
    """

    text: str
    issuer_jwt: str
    header: Mapping[str, Any]
    payload: dict[str, Any]
    encoded: list[str]

    def decoded(self) -> SignedSdJwt:
        """The Disclosures decoded (as :func:`verify_signed` decodes them).

        Raises:
            MalformedError, DisclosureError: naming the first Disclosure that is not one.
        """
        # The record is redacted from what is kept of it whole (_PARSED, after
        # process_signed); keeping each Disclosure as well only churned the Disclosure
        # memo (a third of decoding a received record's Disclosures went to its insertions).
        disclosures = decode_many(self.encoded, keep=False)
        return SignedSdJwt(self.text, self.issuer_jwt, self.header, self.payload, disclosures)


@dataclass(frozen=True, slots=True)
class FlatParts:
    """What redacting a flat SD-JWT reads, kept from the reading that accepted it.

    Flat (:mod:`gateway.core.flat_sd_jwt`): every digest is top-level, so every
    Disclosure is embedded by the Issuer-signed JWT itself and no Disclosure kept
    can lose the one embedding it.

    Attributes:
        issuer_jwt: the Issuer-signed JWT as received.
        disclosures: each Disclosure's claim name and encoded text, in received order.
        digest_count: the digests the payload embeds (its ``_sd``).
    """

    issuer_jwt: str
    disclosures: tuple[tuple[str, str], ...]
    digest_count: int


@dataclass(frozen=True, slots=True)
class SignedSdJwt:
    """An SD-JWT whose Issuer-signed JWT verified; its Disclosures decoded, not yet processed.

    Attributes:
        text: the SD-JWT exactly as received.
        issuer_jwt: its Issuer-signed JWT exactly as received.
        header: the JOSE header of the Issuer-signed JWT.
        payload: the signed payload as decoded (``_sd`` and ``_sd_alg`` still in it).
        disclosures: the Disclosures in received order.
    """

    text: str
    issuer_jwt: str
    header: Mapping[str, Any]
    payload: dict[str, Any]
    disclosures: tuple[Disclosure, ...]


def _reject_reserved(value: Any, where: str) -> None:
    # Issued values must not contain keys a verifier would read as digests.
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in (SD_KEY, ELLIPSIS_KEY, SD_ALG_KEY):
                raise DisclosureError(f"reserved name {key!r} in {where}")
            _reject_reserved(item, where)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_reserved(item, where)


def issue_sd_jwt(
    *,
    signer: Signer,
    claims: Mapping[str, Any],
    disclosable: Sequence[tuple[str, Any]],
    sd_size: int,
    typ: str = DEFAULT_TYP,
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> str:
    """Issue an SD-JWT: ``claims`` always visible, each ``disclosable`` pair its own Disclosure.

    The top-level ``_sd`` array holds the Disclosure digests padded with decoys
    to exactly ``sd_size`` and sorted, so neither the count nor the order of
    the disclosable claims leaks (RFC 9901 §4.2.4.1, §4.2.5).

    ``random_bytes`` is the source of every salt and decoy; only the golden
    vectors (``scripts/gen_vectors.py``) pass a seeded one, to get the same bytes
    on every run.

    Raises:
        DisclosureError: a reserved name in ``claims`` or ``disclosable``, a
            disclosable name repeated or also present in ``claims``.
        InputError: ``sd_size`` smaller than the number of Disclosures, or a
            value that is not JSON.
        AlgorithmError: the signer's algorithm is not on the allow-list.
    """
    _reject_reserved(claims, "claims")
    counts = Counter(name for name, _ in disclosable)
    for name, value in disclosable:
        if isinstance(value, str):
            # What _reject_reserved finds in {name: value} when the value is plain text.
            if name in RESERVED_NAMES:
                raise DisclosureError(f"reserved name {name!r} in disclosable claim {name!r}")
        else:
            _reject_reserved({name: value}, f"disclosable claim {name!r}")
        if name in claims:
            raise DisclosureError(f"disclosable claim {name!r} is also an always-visible claim")
        if counts[name] > 1:
            raise DisclosureError(f"disclosable claim {name!r} is given more than once")
    if sd_size < len(disclosable):
        raise InputError(f"sd_size {sd_size} is smaller than the {len(disclosable)} disclosures")
    # One read of the system's randomness for every salt (128 bits, RFC 9901 §9.3)
    # and every decoy (a hash of 256 random bits, §4.2.5) of the record.
    decoys = sd_size - len(disclosable)
    pool = random_bytes(SALT_BYTES * len(disclosable) + _DECOY_BYTES * decoys)
    disclosures = [
        Disclosure.create(
            name, value, salt=b64url_encode(pool[i * SALT_BYTES : (i + 1) * SALT_BYTES])
        )
        for i, (name, value) in enumerate(disclosable)
    ]
    for disclosure in disclosures:
        # Text values decode to exactly what was given: the issuer's own
        # redaction of this record then finds its Disclosures decoded.
        if isinstance(disclosure.value, str):
            remember(disclosure)
    digests = [d.digest for d in disclosures]
    start = SALT_BYTES * len(disclosable)
    digests += [
        b64url_encode(hashlib.sha256(pool[at : at + _DECOY_BYTES]).digest())
        for at in range(start, len(pool), _DECOY_BYTES)
    ]
    payload: dict[str, Any] = dict(claims)
    if digests:
        payload[SD_KEY] = sorted(digests)
    payload[SD_ALG_KEY] = SD_ALG
    try:
        payload_bytes = dumps_compact(payload).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InputError(f"claims are not JSON: {exc}") from exc
    header = {"alg": signer.jws_algorithm, "kid": signer.key_id, "typ": typ}
    jwt = sign_compact(signer, header, payload_bytes)
    return "".join([jwt, "~", *(f"{d.encoded}~" for d in disclosures)])


def _split(text: str, limits: Limits) -> tuple[str, list[str]]:
    # Sizes and counts are checked on the raw text, before anything is decoded.
    is_ascii = text.isascii()
    size = len(text) if is_ascii else len(text.encode("utf-8"))
    limits.check_bytes("SD-JWT", size, limits.max_record_bytes)
    # Split once the size is bounded, and count the Disclosures from the parts: one scan
    # of the text instead of a count and then a split (the same figure: one part more than
    # there are '~', of which the first and the last enclose no Disclosure).
    parts = text.split("~")
    limits.check_count(
        "disclosures in SD-JWT", max(len(parts) - 2, 0), limits.max_disclosures_per_record
    )
    if not is_ascii:
        raise MalformedError("SD-JWT contains non-ASCII characters")
    if len(parts) < 2:
        raise MalformedError("not an SD-JWT: no '~' after the issuer-signed JWT")
    if parts[-1]:
        raise MalformedError("last component is not empty: key binding is not supported")
    encoded = parts[1:-1]
    for position, part in enumerate(encoded, start=1):
        if not part:
            raise MalformedError(f"disclosure {position} is empty")
    return parts[0], encoded


def _embedded_digests(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string that sits where a digest goes; lenient, for counting and reachability.

    Raises:
        MalformedError: nesting deeper than the processor follows.
    """
    if depth > _MAX_DEPTH:
        raise MalformedError(f"nesting deeper than {_MAX_DEPTH}")
    if isinstance(value, dict):
        sd = value.get(SD_KEY)
        if isinstance(sd, list):
            yield from (d for d in sd if isinstance(d, str))
        for key, item in value.items():
            # Scalars embed nothing; walking into them only checks the depth.
            if key != SD_KEY and (depth >= _MAX_DEPTH or isinstance(item, dict | list)):
                yield from _embedded_digests(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and isinstance(item.get(ELLIPSIS_KEY), str):
                yield item[ELLIPSIS_KEY]
            elif depth >= _MAX_DEPTH or isinstance(item, dict | list):
                yield from _embedded_digests(item, depth + 1)


def _digest_count(payload: Any, disclosures: Sequence[Disclosure]) -> int:
    count = sum(1 for _ in _embedded_digests(payload))
    # Only objects and arrays can embed digests; most values are plain strings.
    count += sum(
        sum(1 for _ in _embedded_digests(d.value))
        for d in disclosures
        if isinstance(d.value, dict | list)
    )
    return count


@dataclass(frozen=True, slots=True)
class _Parts:
    """What parsing an SD-JWT's text yields (a pure function of the text), and its counts.

    Attributes:
        issuer_jwt: the Issuer-signed JWT as received.
        disclosures: the decoded Disclosures in received order.
        embedded: every digest the payload embeds (as :func:`_embedded_digests`).
        digest_count: the digests of the payload and the Disclosures together.
    """

    issuer_jwt: str
    disclosures: tuple[Disclosure, ...]
    embedded: tuple[str, ...]
    digest_count: int


# A hop redacts for the next hop the records it has just verified, and the
# issuer those it has just issued: the same texts are parsed again moments
# later. Parsing is a pure function of the text, so the parts of recent texts
# are kept (a few batches' worth, the oldest dropped first). Only the limits
# depend on the caller: they are checked again on every use, on the same
# figures and in the same order as a fresh parse checks them.
_PARSED: Recent[str, _Parts] = Recent(2_048)


def _recheck(text: str, disclosures: int, digests: int, limits: Limits) -> None:
    # A text that parsed is ASCII, so its length is its size in bytes.
    limits.check_bytes("SD-JWT", len(text), limits.max_record_bytes)
    limits.check_count("disclosures in SD-JWT", disclosures, limits.max_disclosures_per_record)
    limits.check_count("digests in SD-JWT", digests, limits.max_sd_digests_per_record)


def _parts(text: str, limits: Limits) -> _Parts:
    parts = _PARSED.get(text)
    if parts is not None:
        _recheck(text, len(parts.disclosures), parts.digest_count, limits)
        return parts
    issuer_jwt, encoded = _split(text, limits)
    disclosures = decode_many(encoded)
    segments = issuer_jwt.split(".")
    if len(segments) != 3:
        raise MalformedError(f"issuer-signed JWT has {len(segments)} segments, expected 3")
    what = "issuer-signed JWT payload"
    payload = loads_strict(b64url_decode(segments[1], what=what), what=what)
    count = _digest_count(payload, disclosures)
    limits.check_count("digests in SD-JWT", count, limits.max_sd_digests_per_record)
    parts = _Parts(issuer_jwt, disclosures, tuple(_embedded_digests(payload)), count)
    _PARSED.put(text, parts)
    return parts


def parse_sd_jwt(text: str, *, limits: Limits = DEFAULT_LIMITS) -> ParsedSdJwt:
    """Split an SD-JWT into its Issuer-signed JWT and decoded Disclosures, verifying nothing.

    Raises:
        LimitExceededError: size, Disclosure count or digest count over ``limits``.
        MalformedError: not an SD-JWT, a Key Binding JWT present, bad base64url or JSON.
        DisclosureError: a Disclosure breaks RFC 9901 §4.2 (names its position).
    """
    parts = _parts(text, limits)
    return ParsedSdJwt(issuer_jwt=parts.issuer_jwt, disclosures=parts.disclosures)


def redact(sd_jwt: str, keep: Callable[[Disclosure], bool]) -> str:
    """Remove the Disclosures ``keep`` rejects; the Issuer-signed JWT is kept byte for byte.

    Nothing is verified or re-signed here: the result carries the issuer's own
    signature, and the receiver verifies it.

    Raises:
        DisclosureError: a kept Disclosure would no longer be referenced because
            the Disclosure that embeds its digest is removed (RFC 9901 §4.2.6).
        LimitExceededError, MalformedError: as :func:`parse_sd_jwt`.
    """
    parts = _parts(sd_jwt, DEFAULT_LIMITS)
    kept = [(pos, d) for pos, d in enumerate(parts.disclosures, start=1) if keep(d)]
    reachable = set(parts.embedded)
    for _, disclosure in kept:
        if isinstance(disclosure.value, dict | list):
            reachable.update(_embedded_digests(disclosure.value))
    for position, disclosure in kept:
        if disclosure.digest not in reachable:
            raise DisclosureError(
                f"disclosure {position} is kept but the disclosure embedding it is removed"
            )
    return "".join([parts.issuer_jwt, "~", *(f"{d.encoded}~" for _, d in kept)])


def redact_flat(sd_jwt: str, parts: FlatParts, keep: frozenset[str]) -> str:
    """What ``redact(sd_jwt, lambda d: d.name in keep)`` makes of a flat SD-JWT read as ``parts``.

    ``parts`` must be what the reading that accepted exactly ``sd_jwt`` kept. Nothing
    is parsed: the limits are checked on the same figures, in the same order, as a
    redaction of a parsed text checks them, and every kept Disclosure is embedded
    by the Issuer-signed JWT (flat), so none loses the one embedding it.

    Raises:
        LimitExceededError: as :func:`redact`.
    """
    _recheck(sd_jwt, len(parts.disclosures), parts.digest_count, DEFAULT_LIMITS)
    kept = [f"{encoded}~" for name, encoded in parts.disclosures if name in keep]
    return "".join([parts.issuer_jwt, "~", *kept])


@dataclass
class _Processor:
    """RFC 9901 §7.1 step 3: embed Disclosures into the payload, enforcing every rule."""

    by_digest: Mapping[str, int]
    disclosures: Sequence[Disclosure]
    seen: set[str] = field(default_factory=set)
    used: set[int] = field(default_factory=set)

    def _lookup(self, digest: str, where: str) -> int | None:
        index = self.by_digest.get(digest)
        if digest in self.seen:
            named = f"digest of disclosure {index + 1}" if index is not None else "a digest"
            raise DisclosureError(f"{named} appears more than once in the payload (at {where})")
        self.seen.add(digest)
        if index is not None:
            self.used.add(index)
        return index

    def value(self, value: Any, where: str, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise MalformedError(f"nesting deeper than {_MAX_DEPTH} at {where}")
        if isinstance(value, dict):
            return self.object(value, where, depth)
        if isinstance(value, list):
            return self.array(value, where, depth)
        return value

    def _nested(self, value: Any, where: str, key: str, depth: int) -> Any:
        # The path is only built for what is walked into: most claims are scalars.
        if depth <= _MAX_DEPTH and not isinstance(value, dict | list):
            return value
        return self.value(value, f"{where}.{key}", depth)

    def object(self, obj: dict[str, Any], where: str, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in obj.items():
            if key == ELLIPSIS_KEY:
                raise DisclosureError(f"reserved claim name '...' in an object at {where}")
            if key == SD_ALG_KEY and depth > 0:
                raise DisclosureError(f"_sd_alg is only allowed at the top level, found at {where}")
            if key not in (SD_KEY, SD_ALG_KEY):
                out[key] = self._nested(item, where, key, depth + 1)
        sd = obj.get(SD_KEY, [])
        if not isinstance(sd, list) or not all(isinstance(d, str) for d in sd):
            raise DisclosureError(f"_sd at {where} is not an array of strings")
        for digest in sd:
            index = self._lookup(digest, f"{where}._sd")
            if index is None:
                continue  # a decoy, or a Disclosure the holder did not send
            disclosure = self.disclosures[index]
            if disclosure.name is None:
                raise DisclosureError(
                    f"disclosure {index + 1} is an array element "
                    f"but its digest is in _sd at {where}"
                )
            if disclosure.name in out:
                raise DisclosureError(
                    f"disclosure {index + 1} claim {disclosure.name!r} already exists at {where}"
                )
            out[disclosure.name] = self._nested(disclosure.value, where, disclosure.name, depth + 1)
        return out

    def array(self, items: list[Any], where: str, depth: int) -> list[Any]:
        out: list[Any] = []
        for position, item in enumerate(items):
            here = f"{where}[{position}]"
            if not (isinstance(item, dict) and ELLIPSIS_KEY in item):
                out.append(self.value(item, here, depth + 1))
                continue
            if len(item) != 1 or not isinstance(item[ELLIPSIS_KEY], str):
                raise DisclosureError(f"array element digest at {here} is not {{'...': digest}}")
            index = self._lookup(item[ELLIPSIS_KEY], here)
            if index is None:
                continue  # §7.1 step 3.4: undisclosed elements are removed
            disclosure = self.disclosures[index]
            if disclosure.name is not None:
                raise DisclosureError(
                    f"disclosure {index + 1} is an object property but its digest is "
                    f"an array element at {here}"
                )
            out.append(self.value(disclosure.value, here, depth + 1))
        return out


def _process(
    payload: Mapping[str, Any], disclosures: Sequence[Disclosure]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the Processed SD-JWT Payload and the top-level disclosed claims.

    Raises:
        DisclosureError: any rule of RFC 9901 §7.1 steps 3 to 5 (names the Disclosure).
        AlgorithmError: ``_sd_alg`` other than ``sha-256``.
        MalformedError: nesting deeper than the processor follows.
    """
    sd_alg = payload.get(SD_ALG_KEY, SD_ALG)
    if sd_alg != SD_ALG:
        raise AlgorithmError(f"_sd_alg {sd_alg!r} is not allowed (allowed: {SD_ALG})")
    by_digest: dict[str, int] = {}
    for index, disclosure in enumerate(disclosures):
        first = by_digest.setdefault(disclosure.digest, index)
        if first != index:
            raise DisclosureError(
                f"disclosure {index + 1} is a duplicate of disclosure {first + 1}"
            )
    processor = _Processor(by_digest=by_digest, disclosures=disclosures)
    claims = processor.object(dict(payload), "$", 0)
    for index in range(len(disclosures)):
        if index not in processor.used:
            raise DisclosureError(f"disclosure {index + 1} is not referenced by any digest")
    top_level = set(payload.get(SD_KEY, []))
    disclosed = {
        d.name: claims[d.name] for d in disclosures if d.name is not None and d.digest in top_level
    }
    return claims, disclosed


def _visible(payload: dict[str, Any]) -> dict[str, Any]:
    """The always-visible claims of a payload that :func:`_process` accepted.

    A flat payload (no object or array claim, the shape of every record) only
    loses ``_sd`` and ``_sd_alg``; anything nested is processed without
    Disclosures, which cannot fail where processing with them passed.
    """
    if any(isinstance(value, dict | list) for key, value in payload.items() if key != SD_KEY):
        return _process(payload, ())[0]
    return {key: value for key, value in payload.items() if key not in (SD_KEY, SD_ALG_KEY)}


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None and name not in claims:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedError(f"claim {name!r} is not a NumericDate")
    return value


def _check_validity(claims: Mapping[str, Any], now: int, leeway_s: int) -> None:
    exp = _numeric_date(claims, "exp")
    if exp is not None and now >= exp + leeway_s:
        raise ExpiredError(f"expired: exp {exp} is not after now {now} (leeway {leeway_s}s)")
    nbf = _numeric_date(claims, "nbf")
    if nbf is not None and now + leeway_s < nbf:
        raise ClockSkewError(f"not yet valid: nbf {nbf} is after now {now} (leeway {leeway_s}s)")
    iat = _numeric_date(claims, "iat")
    if iat is not None and now + leeway_s < iat:
        raise ClockSkewError(
            f"issued in the future: iat {iat} is after now {now} (leeway {leeway_s}s)"
        )


def verify_sd_jwt(
    text: str,
    *,
    resolve_key: Callable[[str], Verifier],
    now: int,
    limits: Limits = DEFAULT_LIMITS,
    expected_typ: str | None = DEFAULT_TYP,
    leeway_s: int = 0,
) -> VerifiedSdJwt:
    """Verify an SD-JWT strictly (RFC 9901 §7.1, §7.3) and return its processed claims.

    ``resolve_key`` maps a ``kid`` to a verifier; for an unknown ``kid`` it raises
    :class:`SignatureError` (``LookupError`` and ``NotFoundError`` are translated).
    The two stages, :func:`verify_signed` then :func:`process_signed`.

    Raises:
        LimitExceededError: size, Disclosure count or digest count over ``limits``.
        AlgorithmError: ``alg`` not allowed (checked first), or ``_sd_alg`` not sha-256.
        SignatureError: no or unknown ``kid``, or the signature does not verify.
        MalformedError: bad structure, base64url, JSON, ``typ``, a Key Binding
            JWT, or a non-numeric ``exp`` / ``nbf`` / ``iat``.
        DisclosureError: a Disclosure is malformed, duplicated, unreferenced,
            collides with a claim, has a reserved name, or is of the wrong kind
            for where its digest sits; a digest appears twice; ``_sd`` is not an
            array of strings.
        ExpiredError: past ``exp`` (after leeway).
        ClockSkewError: ``nbf`` / ``iat`` in the future (after leeway).
    """
    signed = verify_signed(text, resolve_key=resolve_key, limits=limits, expected_typ=expected_typ)
    return process_signed(signed, now=now, limits=limits, leeway_s=leeway_s)


def verify_signed(
    text: str,
    *,
    resolve_key: Callable[[str], Verifier],
    limits: Limits = DEFAULT_LIMITS,
    expected_typ: str | None = DEFAULT_TYP,
) -> SignedSdJwt:
    """The first stage of :func:`verify_sd_jwt`: sizes, signature, payload, Disclosures.

    Nothing of RFC 9901 §7.1 step 3 onwards is checked yet: only
    :func:`process_signed` (or a reader that accepts exactly what it accepts)
    makes the result a verified SD-JWT.

    Raises:
        LimitExceededError, AlgorithmError, SignatureError, MalformedError,
        DisclosureError: as :func:`verify_sd_jwt`, for what this stage checks.
    """
    signed = verify_issuer_jwt(
        text, resolve_key=resolve_key, limits=limits, expected_typ=expected_typ
    )
    return signed.decoded()


def verify_issuer_jwt(
    text: str,
    *,
    resolve_key: Callable[[str], Verifier],
    limits: Limits = DEFAULT_LIMITS,
    expected_typ: str | None = DEFAULT_TYP,
) -> SignedJwt:
    """:func:`verify_signed` up to its Disclosures, which are left encoded.

    Raises:
        LimitExceededError, AlgorithmError, SignatureError, MalformedError: as
            :func:`verify_sd_jwt`, for what this part checks.
    """
    issuer_jwt, encoded = _split(text, limits)
    jws = verify_compact(
        issuer_jwt, resolve_key=resolve_key, expected_typ=expected_typ, what="issuer-signed JWT"
    )
    payload = loads_strict(jws.payload, what="issuer-signed JWT payload")
    if not isinstance(payload, dict):
        raise MalformedError("issuer-signed JWT payload is not a JSON object")
    return SignedJwt(text, issuer_jwt, jws.header, payload, encoded)


def process_signed(
    signed: SignedSdJwt, *, now: int, limits: Limits = DEFAULT_LIMITS, leeway_s: int = 0
) -> VerifiedSdJwt:
    """The second stage of :func:`verify_sd_jwt`: the Disclosures processed, the times checked.

    Raises:
        LimitExceededError, AlgorithmError, MalformedError, DisclosureError,
        ExpiredError, ClockSkewError: as :func:`verify_sd_jwt`, for what this stage checks.
    """
    payload, disclosures = signed.payload, signed.disclosures
    flat = process_flat(payload, disclosures, limits)
    if flat is None:
        count = _digest_count(payload, disclosures)
        limits.check_count("digests in SD-JWT", count, limits.max_sd_digests_per_record)
        claims, disclosed = _process(payload, disclosures)
        visible = _visible(payload)
        embedded = tuple(_embedded_digests(payload))
    else:
        claims, disclosed, visible = flat
        embedded = tuple(payload[SD_KEY]) if SD_KEY in payload else ()
        count = len(embedded)
    _check_validity(claims, now, leeway_s)
    # Redacting this record for the next hop need not parse it again.
    _PARSED.put(signed.text, _Parts(signed.issuer_jwt, disclosures, embedded, count))
    return VerifiedSdJwt(
        header=MappingProxyType(dict(signed.header)),
        payload=MappingProxyType(visible),
        claims=MappingProxyType(claims),
        disclosed=MappingProxyType(disclosed),
        disclosures=disclosures,
        issuer_jwt=signed.issuer_jwt,
    )
