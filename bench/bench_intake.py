"""Intake: records per second validated, signed and stored at a city node.

Measured through the real use case, :meth:`IntakeService.submit` on a real
store (a SQLite file; a fresh PostgreSQL schema too when configured), in
batches of 500 valid 双公示 penalty records. The baseline is the cryptographic
floor of the same records: one bare Ed25519 signature over a signing input of
the size our JWS has, plus one SHA-256 per disclosure over disclosures of the
sizes ours have, with pyca cryptography. Each repetition times the baseline
and then intake on fresh records, so their ratio is taken under the same load.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.harness import (
    BenchConfig,
    BenchResult,
    Figure,
    Stats,
    ThreadProfiles,
    backends,
    database_url,
    time_ns,
)
from gateway.core.algorithms import Ed25519Signer
from gateway.core.principal import Principal, Role
from gateway.core.record_fields import validate_record
from gateway.core.records import issue_record
from gateway.node.catalog_files import load_packaged_catalog
from gateway.node.intake import IntakeOutcome, IntakeService, Submission
from gateway.store import StoreWriter, open_store
from tests.support.records import penalty_fields

__all__ = ["CATEGORY", "NAME", "NODE", "run", "submissions"]

NAME = "intake"
NODE = "330500"
CATEGORY = "admin_penalty"
BATCH = 500
_PRINCIPAL = Principal(Role.DEPARTMENT, NODE, "bench-office", "procurement", "00" * 32)


def _decided() -> dt.date:
    # Intake refuses records whose disclosure period is over: decide them recently.
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=30)


def submissions(start: int, count: int) -> list[Submission]:
    """``count`` valid, distinct penalty records numbered from ``start``."""
    decided = _decided()
    return [
        Submission(str(i), CATEGORY, penalty_fields(i, decided=decided))
        for i in range(start, start + count)
    ]


@dataclass(frozen=True, slots=True)
class _Shape:
    """Sizes of one issued record: the JWS signing input and each disclosure."""

    signing_input: int
    disclosures: tuple[int, ...]


def _shape(signer: Ed25519Signer) -> _Shape:
    catalog = load_packaged_catalog(NODE)
    record = validate_record(
        catalog,
        CATEGORY,
        penalty_fields(0, decided=_decided()),
        today=dt.datetime.now(dt.UTC).date(),
    )
    sd_jwt = issue_record(
        record,
        catalog.category(CATEGORY),
        issuer=NODE,
        record_id="bench",
        version=1,
        catalog_version=catalog.version,
        signer=signer,
        now=int(time.time()),
    )
    jwt, *disclosures, _ = sd_jwt.split("~")
    return _Shape(len(jwt.rsplit(".", 1)[0]), tuple(len(d) for d in disclosures))


def _baseline(key: Ed25519PrivateKey, shape: _Shape, count: int) -> Callable[[], None]:
    """The crypto floor of ``count`` records, on fresh random inputs of the right sizes."""
    inputs = [
        (os.urandom(shape.signing_input), [os.urandom(n) for n in shape.disclosures])
        for _ in range(count)
    ]

    def work() -> None:
        for signing_input, disclosures in inputs:
            key.sign(signing_input)
            for disclosure in disclosures:
                digest = hashes.Hash(hashes.SHA256())
                digest.update(disclosure)
                digest.finalize()

    return work


def _intake(service: IntakeService, records: Sequence[Submission]) -> Callable[[], None]:
    def work() -> None:
        for start in range(0, len(records), BATCH):
            results = service.submit(records[start : start + BATCH], _PRINCIPAL)
            refused = [r for r in results if r.outcome is not IntakeOutcome.ACCEPTED]
            if refused:
                raise RuntimeError(f"bench record {refused[0].ref} was not accepted: {refused[0]}")

    return work


def _profile(
    service: IntakeService, writer: StoreWriter, records: Sequence[Submission]
) -> list[tuple[str, float, float]]:
    # The signing and the inserts run on the writer's thread, validation on ours.
    profiles = ThreadProfiles()
    if not profiles.available:
        return []
    writer.submit(lambda _conn: profiles.start_here()).result()
    profiles.start_here()
    _intake(service, records)()
    profiles.stop_here()
    writer.submit(lambda _conn: profiles.stop_here()).result()
    return profiles.hot_spots()


def _measure_backend(
    config: BenchConfig, result: BenchResult, backend: str, signer: Ed25519Signer, shape: _Shape
) -> None:
    reps = config.pick(5, 2)
    per_rep = config.pick(10_000, 50)
    catalog = load_packaged_catalog(NODE)
    with database_url(config, backend, "intake") as url:
        store = open_store(url)
        try:
            service = IntakeService(
                node_id=NODE,
                catalog=catalog,
                signer=signer,
                store=store,
                clock=lambda: int(time.time()),
            )
            # Warm-up: statement caches, imports, the first pages of the tables.
            _intake(service, submissions(10_000_000, min(BATCH, per_rep)))()
            floor: list[float] = []
            ours: list[float] = []
            for rep in range(reps):
                records = submissions(rep * per_rep, per_rep)
                floor.append(
                    per_rep / (time_ns(_baseline(signer.private_key, shape, per_rep)) / 1e9)
                )
                ours.append(per_rep / (time_ns(_intake(service, records)) / 1e9))
            if config.profile and backend == "sqlite":
                result.hot_spots = _profile(
                    service, store.writer, submissions(20_000_000, per_rep // 2)
                )
        finally:
            store.close()
    result.add(
        Figure(
            f"crypto_floor_{backend}",
            f"Ed25519 sign + disclosure SHA-256 (next to {backend})",
            "records/s",
            "baseline",
            Stats.of(floor),
            higher_is_better=True,
        )
    )
    result.add(
        Figure(
            f"intake_{backend}",
            f"IntakeService.submit, {backend}",
            "records/s",
            "measured",
            Stats.of(ours),
            higher_is_better=True,
        )
    )
    result.compare(
        f"intake_vs_floor_{backend}",
        f"intake_{backend}",
        f"crypto_floor_{backend}",
        "share of the crypto floor's rate that intake reaches; 1/ratio is how many times "
        "the bare signing and hashing intake costs in all",
    )


def run(config: BenchConfig) -> BenchResult:
    """Intake throughput per backend, each against the crypto floor of the same records."""
    result = BenchResult(
        name=NAME,
        title="Intake (validate, sign, store)",
        measured=(
            f"records/s through `IntakeService.submit` on a migrated store, batches of {BATCH} "
            f"valid 双公示 penalty records of node {NODE}, "
            f"{config.pick(10_000, 50):,} fresh records per repetition; validation, "
            "SD-JWT issuance, record and audit inserts, commit"
        ),
        baseline=(
            "per record, one bare Ed25519 signature (pyca cryptography) over random bytes of our "
            "JWS signing-input size, plus one SHA-256 (pyca) per disclosure over random bytes "
            "of our disclosure sizes; timed just before intake in every repetition"
        ),
    )
    key = Ed25519PrivateKey.generate()
    signer = Ed25519Signer(f"node-{NODE}-sign-bench", key)
    shape = _shape(signer)
    result.notes.append(
        f"One record is a JWS signing input of {shape.signing_input} bytes and "
        f"{len(shape.disclosures)} disclosures of {min(shape.disclosures)}–"
        f"{max(shape.disclosures)} bytes."
    )
    for backend in backends(config):
        _measure_backend(config, result, backend, signer, shape)
    result.headline = "intake_vs_floor_sqlite"
    return result
