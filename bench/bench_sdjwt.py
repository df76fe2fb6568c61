"""SD-JWT verification: our strict verifier against the `sd-jwt` reference package.

Both verify the same record, a real 双公示 penalty issued by ``issue_record``
with all its disclosures; the reference verifier (with jwcrypto) is the peer,
and a bare Ed25519 verification of the same issuer-signed JWT is the floor
that no verifier can go below.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwcrypto.jwk import JWK  # type: ignore[import-untyped]  # no stubs
from sd_jwt.verifier import SDJWTVerifier

from bench.harness import BenchConfig, BenchResult, Figure, Stats, time_ns
from gateway.core.algorithms import Ed25519Signer, Verifier
from gateway.core.record_fields import validate_record
from gateway.core.records import RECORD_TYP, issue_record, verify_record
from gateway.core.sdjwt import verify_sd_jwt
from gateway.node.catalog_files import load_packaged_catalog
from tests.support.records import penalty_fields

__all__ = ["NAME", "run"]

NAME = "sdjwt"
_NODE = "330500"
_CATEGORY = "admin_penalty"


def _record(signer: Ed25519Signer, now: int) -> str:
    catalog = load_packaged_catalog(_NODE)
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    fields = penalty_fields(7, decided=today - dt.timedelta(days=30))
    record = validate_record(catalog, _CATEGORY, fields, today=today)
    return issue_record(
        record,
        catalog.category(_CATEGORY),
        issuer=_NODE,
        record_id="330500-bench-000007",
        version=1,
        catalog_version=catalog.version,
        signer=signer,
        now=now,
    )


def _repeat(count: int, verify: Callable[[], object]) -> Callable[[], None]:
    def work() -> None:
        for _ in range(count):
            verify()

    return work


def run(config: BenchConfig) -> BenchResult:
    """Microseconds per verification: ours, the reference package, bare Ed25519."""
    reps = config.pick(9, 2)
    count = config.pick(400, 20)
    now = int(time.time())
    signer = Ed25519Signer(f"node-{_NODE}-sign-bench", Ed25519PrivateKey.generate())
    verifier = signer.verifier()
    sd_jwt = _record(signer, now)

    def resolve(kid: str) -> Verifier:
        return {verifier.key_id: verifier}[kid]

    def ours() -> Any:
        return verify_sd_jwt(sd_jwt, resolve_key=resolve, now=now, expected_typ=RECORD_TYP)

    def ours_record() -> Any:
        return verify_record(sd_jwt, resolve_key=resolve, key_owner=lambda _kid: _NODE, now=now)

    public_jwk = JWK.from_pyca(signer.private_key.public_key())

    def reference() -> Any:
        return SDJWTVerifier(sd_jwt, lambda _iss, _header: public_jwk).get_verified_payload()

    jwt = sd_jwt.split("~", 1)[0]
    signing_input, signature_b64 = jwt.rsplit(".", 1)
    signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    public_key = signer.private_key.public_key()

    def bare() -> None:
        public_key.verify(signature, signing_input.encode("ascii"))

    # Both verifiers must accept the record and agree on it, or the timing compares nothing.
    if dict(ours().claims) != reference():
        raise RuntimeError("our verifier and the reference disagree on the benchmark record")

    timings: dict[str, list[float]] = {"ours": [], "record": [], "reference": [], "bare": []}
    functions = {"ours": ours, "record": ours_record, "reference": reference, "bare": bare}
    for fn in functions.values():
        fn()  # warm-up
    for _ in range(reps):
        for name, fn in functions.items():
            timings[name].append(time_ns(_repeat(count, fn)) / count / 1000)

    disclosures = sd_jwt.count("~") - 1
    result = BenchResult(
        name=NAME,
        title="SD-JWT verification (peer: sd-jwt reference)",
        measured=(
            f"µs per strict verification of one penalty record ({len(sd_jwt):,} bytes, "
            f"{disclosures} disclosures, all presented) with `gateway.core.sdjwt.verify_sd_jwt`, "
            f"and with `verify_record` (adds the record claims and issuer check); "
            f"{count} verifications per repetition"
        ),
        baseline=(
            "the same text verified by `sd_jwt.verifier.SDJWTVerifier` "
            "(sd-jwt reference package, jwcrypto), and a bare pyca Ed25519 verification of "
            "its issuer-signed JWT (the floor)"
        ),
    )
    result.add(Figure("ours", "ours: verify_sd_jwt", "µs", "measured", Stats.of(timings["ours"])))
    result.add(
        Figure("ours_record", "ours: verify_record", "µs", "measured", Stats.of(timings["record"]))
    )
    result.add(
        Figure(
            "reference",
            "sd-jwt reference verifier",
            "µs",
            "baseline",
            Stats.of(timings["reference"]),
        )
    )
    result.add(Figure("bare", "bare Ed25519 verify", "µs", "baseline", Stats.of(timings["bare"])))
    result.compare(
        "ours_vs_reference",
        "ours",
        "reference",
        "time ours takes per verification relative to the reference (below 1: ours is faster)",
    )
    result.compare(
        "ours_vs_bare",
        "ours",
        "bare",
        "what strict parsing, digest checks and claim processing cost on top of the signature",
    )
    result.headline = "ours_vs_reference"
    result.notes.append(
        "The two verifiers do not check the same rules: ours applies every RFC 9901 "
        "rejection rule plus the federation's limits and typ check; the reference is a "
        "cross-check implementation. Their processed claims are compared once before timing."
    )
    return result
