"""The national node's hand on its directory file: edit or renew, re-sign, write.

The national node's ``[node] directory`` file is the federation's source of
the directory: its upkeep re-reads it, children fetch it from national and
from each other down the tree (:mod:`gateway.node.peers`). So a change here is
a change of the file: read it, check that the national node signed it, apply
the edit (:mod:`gateway.core.directory_edit`), give it a new serial and
validity, sign it, write it atomically. The running node's re-signing
schedule and the operator's ``gateway directory`` commands both come through
:class:`DirectorySigner`, one at a time under an exclusive lock on a file
beside the directory, so that neither loses the other's change.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog
from cryptography import x509

from gateway.core.directory import Directory
from gateway.core.directory_edit import renewed
from gateway.core.errors import ConfigurationError, GatewayError
from gateway.node.directory_file import sign_directory_with
from gateway.node.periodic import Periodic
from gateway.node.trust import read_directory_file, verify_directory_signature, write_directory_file
from gateway.pki import NodeCredentials

__all__ = ["DirectorySigner"]

log = structlog.get_logger("gateway.directory")


class DirectorySigner:
    """Edits and re-signs the national node's directory file.

    Args:
        path: the national node's ``[node] directory`` file.
        creds: the national node's credentials (signing key and chain, federation root).
        clock: Unix seconds now.
        valid_s: how long each directory it signs is valid.
    """

    def __init__(
        self,
        *,
        path: Path,
        creds: NodeCredentials,
        clock: Callable[[], float],
        valid_s: int,
    ) -> None:
        self._path = path
        self._creds = creds
        self._clock = clock
        self._valid_s = valid_s

    @property
    def root(self) -> x509.Certificate:
        """The federation root the national node's credentials hold."""
        return self._creds.root

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive across processes on this host: the node's schedule and an operator."""
        lock_path = self._path.with_name(self._path.name + ".lock")
        try:
            handle = lock_path.open("a")
        except OSError as exc:
            raise ConfigurationError(f"cannot lock the directory {self._path}: {exc}") from exc
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def current(self) -> Directory:
        """The directory in the file, signed by the national node (expired or not).

        Raises:
            ConfigurationError: the file is missing or unreadable.
            VerificationError: not signed by the national node, or malformed.
        """
        signed = read_directory_file(self._path)
        return verify_directory_signature(signed, root=self._creds.root, now=int(self._clock()))

    def edit(self, change: Callable[[Directory], Directory]) -> Directory:
        """Apply ``change`` to the directory in the file, re-sign it, write it; return it.

        Raises:
            ConfigurationError / VerificationError: as :meth:`current`.
            GatewayError: what ``change`` raises (nothing is written then).
        """
        with self._locked():
            now = int(self._clock())
            directory = renewed(change(self.current()), now=now, valid_s=self._valid_s)
            write_directory_file(self._path, sign_directory_with(self._creds, directory))
        return directory

    def renew_if_due(self, resign_before_s: float) -> Directory | None:
        """Re-sign the directory if it expires within ``resign_before_s``; the new one or None.

        Checked again under the lock: when an operator's edit or another replica
        sharing the file has just renewed it, nothing is signed twice.

        Raises:
            ConfigurationError / VerificationError: as :meth:`current`.
        """
        with self._locked():
            now = int(self._clock())
            held = self.current()
            if now < held.expires_at - resign_before_s:
                return None
            directory = renewed(held, now=now, valid_s=self._valid_s)
            write_directory_file(self._path, sign_directory_with(self._creds, directory))
        log.info(
            "directory.resigned",
            serial=directory.serial,
            previous_serial=held.serial,
            expires_at=directory.expires_at,
        )
        return directory

    def periodic(
        self,
        name: str,
        *,
        interval_s: float,
        resign_before_s: float,
        may_run: Callable[[], bool] = lambda: True,
    ) -> Periodic:
        """The (not yet started) schedule: re-sign whenever the directory is due, while
        ``may_run`` says so (the replica holding the duty's lease)."""

        def step() -> None:
            if not may_run():
                return
            try:
                self.renew_if_due(resign_before_s)
            except GatewayError as exc:
                log.error(  # noqa: TRY400 - expected failure: the message says it all
                    "directory.resign_failed",
                    path=str(self._path),
                    error=type(exc).__name__,
                    detail=str(exc),
                )

        return Periodic(name, step, interval_s)
