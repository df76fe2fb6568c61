"""A node's background tasks: the singleton duties, and the certificate, directory and
checkpoint schedules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from gateway.core.node_id import NATIONAL
from gateway.node.audit_log import CheckpointPublisher
from gateway.node.certificate_watch import CertificateWatch
from gateway.node.config import NodeConfig
from gateway.node.directory_signer import DirectorySigner
from gateway.node.directory_watch import DIRECTORY_CHECK_INTERVAL_S, DirectoryWatch
from gateway.node.periodic import Periodic
from gateway.node.singleton import LeaseKeeper, singleton
from gateway.node.trust import FederationTrust
from gateway.pki import NodeCredentials

__all__ = [
    "CHECKPOINTS_DUTY",
    "DIRECTORY_DUTY",
    "EXPIRY_DUTY",
    "Startable",
    "certificate_watch",
    "checkpoint_task",
    "directory_watch_tasks",
    "start_all",
]

CHECKPOINTS_DUTY = "audit-checkpoints"
EXPIRY_DUTY = "expiry-sweep"
DIRECTORY_DUTY = "directory-resign"
"""The singleton duties: each runs on the one replica holding its lease."""


def certificate_watch(
    config: NodeConfig, creds: NodeCredentials, clock: Callable[[], float]
) -> Periodic:
    """``certificate.expiring`` for this node's own certificates and the federation root."""
    watch = CertificateWatch(
        {name: cert.not_valid_after_utc.timestamp() for name, cert in creds.certificates()},
        warn_before_s=config.server.certificate_warning_days * 86_400,
        clock=clock,
    )
    return watch.periodic(f"certificates-{config.node_id}")


def directory_watch_tasks(
    config: NodeConfig,
    creds: NodeCredentials,
    trust: FederationTrust,
    clock: Callable[[], float],
    duties: LeaseKeeper,
) -> tuple[Periodic, ...]:
    """Every node watches its directory's expiry; the national node also re-signs its file
    before expiry (``[directory]``), which its upkeep then reads and its children fetch."""
    settings = config.directory
    watch = DirectoryWatch(
        lambda: trust.held, warn_before_s=settings.warning_days * 86_400, clock=clock
    )
    tasks = [watch.periodic(f"directory-watch-{config.node_id}")]
    path = config.directory_file
    if config.node_id == NATIONAL and path is not None:
        signer = DirectorySigner(
            path=path, creds=creds, clock=clock, valid_s=int(settings.valid_days * 86_400)
        )
        tasks.append(
            signer.periodic(
                f"directory-resign-{config.node_id}",
                interval_s=DIRECTORY_CHECK_INTERVAL_S,
                resign_before_s=settings.resign_before_days * 86_400,
                may_run=lambda: duties.holds(DIRECTORY_DUTY),
            )
        )
    return tuple(tasks)


class Startable(Protocol):
    def start(self) -> None: ...


def start_all(*tasks: Startable) -> None:
    for task in tasks:
        task.start()


def checkpoint_task(
    config: NodeConfig, duties: LeaseKeeper, publisher: CheckpointPublisher
) -> Periodic:
    """The publisher's rounds, on the replica holding the checkpoints' lease only."""
    return Periodic(
        f"checkpoints-{config.node_id}",
        singleton(duties, CHECKPOINTS_DUTY, publisher.tick),
        max(0.05, min(1.0, config.audit.checkpoint_every_s / 4)),
    )
