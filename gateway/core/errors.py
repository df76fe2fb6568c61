"""The gateway's one exception tree, split by who is at fault.

Every error the gateway raises on purpose derives from :class:`GatewayError`.
The branches say whose fault a failure is, which is what decides the gRPC
status (see ``gateway.rpc.errors``) and whether a retry can ever help::

    GatewayError
    ├── InputError                  the caller sent something malformed
    │   ├── IdentifierError         bad USCC / citizen number
    │   ├── RecordValidationError   record does not fit the catalog (names the field)
    │   ├── LimitExceededError      size or count limit exceeded before parsing
    │   └── OutOfRangeError         a number or text of a payload outside its bounds
    ├── VerificationError           remote data failed a cryptographic or format check
    │   ├── MalformedError          cannot be parsed as the format it claims to be
    │   ├── SignatureError          signature does not verify / unknown key
    │   ├── DisclosureError         SD-JWT disclosure rule broken (RFC 9901 §7)
    │   ├── ExpiredError            past `exp`, before `nbf`, or outside validity
    │   │   ├── ClockSkewError      a signed time off this node's clock by more than the skew
    │   │   └── DirectoryExpiredError   the federation directory in force has expired
    │   ├── AlgorithmError          algorithm not on the federation allow-list
    │   ├── ReplayError             a batch id or nonce seen before
    │   └── ProofError              Merkle inclusion / consistency proof fails
    │       └── EpochError          a log changes epoch without the incident that opens it
    ├── PolicyError                 refused by policy, the data itself is fine
    │   ├── AccessDeniedError       caller's role / scope does not allow this
    │   └── ScopeViolationError     a peer sent more than we are entitled to
    ├── CatalogError                catalog or measures list malformed or forbidden
    ├── ConfigurationError          this node is misconfigured (certs, keys, config)
    ├── NotFoundError               the thing asked for does not exist here
    ├── ConflictError               the request conflicts with the stored state
    ├── StorageError                the database failed (our fault, maybe transient)
    ├── PeerError                   talking to another node failed
    │   └── PeerUnavailableError    transient: unreachable, deadline, overloaded
    └── CallCancelledError          the caller cancelled the call: its work stopped
        └── CallDeadlineError       the call's deadline passed: its work stopped

Only :class:`PeerUnavailableError` (and transient :class:`StorageError`) is ever
retried; verification and policy failures are final, except the two that pass
with time: :class:`ClockSkewError` (the clocks agree again, or the signed time
comes) and :class:`DirectoryExpiredError` (the directory is renewed). A
receiver answers those with UNAVAILABLE, so the sender retries with backoff.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AlgorithmError",
    "CallCancelledError",
    "CallDeadlineError",
    "CatalogError",
    "ClockSkewError",
    "ConfigurationError",
    "ConflictError",
    "DirectoryExpiredError",
    "DisclosureError",
    "EpochError",
    "ExpiredError",
    "GatewayError",
    "IdentifierError",
    "InputError",
    "LimitExceededError",
    "MalformedError",
    "NotFoundError",
    "OutOfRangeError",
    "PeerError",
    "PeerUnavailableError",
    "PolicyError",
    "ProofError",
    "RecordValidationError",
    "ReplayError",
    "ScopeViolationError",
    "SignatureError",
    "StorageError",
    "VerificationError",
    "passes_with_time",
]


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose.

    Every error pickles whole (its message as given, and its attributes such as
    ``rule``), without calling ``__init__`` again: a worker process returns the
    error of a record it refused to the node process unchanged.
    """

    def __reduce__(self) -> tuple[object, ...]:
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(
    cls: type[GatewayError], args: tuple[object, ...], state: dict[str, object]
) -> GatewayError:
    """The error :meth:`GatewayError.__reduce__` took apart (see there)."""
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class InputError(GatewayError):
    """The caller sent something malformed; resending it unchanged will fail again."""


class IdentifierError(InputError):
    """A unified social credit code or citizen number is invalid."""


class RecordValidationError(InputError):
    """A record does not fit its catalog category.

    Attributes:
        field: the 双公示 field code at fault, or ``None`` for record-level faults.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class LimitExceededError(InputError):
    """An input exceeds a configured size or count limit (checked before parsing)."""


class OutOfRangeError(InputError):
    """A number or text of an untrusted payload is outside the bounds in the limits.

    Checked before anything is stored, so that no column, wire field or encoder
    downstream ever meets a value it cannot hold.

    Attributes:
        rule: ``limits:<bound>``, for the audit log.
    """

    def __init__(self, message: str, *, rule: str = "limits") -> None:
        super().__init__(message)
        self.rule = rule


class VerificationError(GatewayError):
    """Data from elsewhere failed a cryptographic or structural check."""


class MalformedError(VerificationError):
    """Bytes cannot be parsed as the format they claim to be."""


class SignatureError(VerificationError):
    """A signature does not verify, or names a key we do not trust."""


class DisclosureError(VerificationError):
    """An SD-JWT disclosure breaks a rule of RFC 9901."""


class ExpiredError(VerificationError):
    """Something is used outside its validity period."""


class ClockSkewError(ExpiredError):
    """A signed time (issue, not-before, sending, cosigning) is further from this node's
    clock than the allowed skew: it may pass with time, so the sender retries it."""


class DirectoryExpiredError(ExpiredError):
    """The federation directory in force has expired: nothing verifies until it is renewed."""


class AlgorithmError(VerificationError):
    """An algorithm is not on the federation's allow-list."""


class ReplayError(VerificationError):
    """A batch id or other one-time value was seen before."""


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof does not verify."""


class EpochError(ProofError):
    """An audit log starts a new epoch without the incident event that must open it,
    or with one citing another checkpoint than its witness last cosigned."""


class PolicyError(GatewayError):
    """Refused by policy; the data is well-formed but may not go there."""


class AccessDeniedError(PolicyError):
    """The caller's role or sharing scope does not allow this action.

    Attributes:
        rule: the policy rule that decided the denial, for the audit log.
    """

    def __init__(self, message: str, *, rule: str = "default-deny") -> None:
        super().__init__(message)
        self.rule = rule


class ScopeViolationError(PolicyError):
    """A peer sent a disclosure outside this node's entitlement (over-sharing)."""


class CatalogError(GatewayError):
    """The catalog or measures list is malformed or lists forbidden data.

    Attributes:
        source: the file (or other source name) the catalog text came from.
        entry: the category / field / rule at fault, if known.
    """

    def __init__(
        self, message: str, *, source: str = "<catalog>", entry: str | None = None
    ) -> None:
        where = f"{source}: {entry}: " if entry else f"{source}: "
        super().__init__(where + message)
        self.source = source
        self.entry = entry


class ConfigurationError(GatewayError):
    """This node's own configuration, certificates or keys are unusable."""


class NotFoundError(GatewayError):
    """The requested record, notice or object does not exist here."""


class ConflictError(GatewayError):
    """The request conflicts with stored state (e.g. a stale version)."""


class StorageError(GatewayError):
    """The database failed.

    Attributes:
        transient: True when retrying may succeed (lock timeout, lost connection).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class PeerError(GatewayError):
    """Talking to another node failed."""


class PeerUnavailableError(PeerError):
    """A peer is unreachable, timed out or overloaded: transient, retried with backoff."""


class CallCancelledError(GatewayError):
    """The caller cancelled the call (or went away): the work stopped between two steps.

    Raised by a use case that loops, when its cancellation port says the call is
    no longer wanted; nothing is left committed half-way (each step commits
    whole or not at all). The message says how far the work had gone.
    """


class CallDeadlineError(CallCancelledError):
    """The call's deadline passed: the work stopped between two steps, as on a cancel."""


def passes_with_time(exc: BaseException) -> bool:
    """True for the refusals that pass with time, so a sender retries them with backoff.

    :class:`ClockSkewError` (the clocks agree again, or the signed time comes)
    and :class:`DirectoryExpiredError` (the directory is renewed).
    """
    return isinstance(exc, ClockSkewError | DirectoryExpiredError)
