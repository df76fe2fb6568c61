"""The authenticated caller of the current RPC, set by the interceptor."""

from __future__ import annotations

from contextvars import ContextVar

from gateway.core.errors import AccessDeniedError
from gateway.core.principal import Principal

__all__ = ["current_principal", "principal_var"]

principal_var: ContextVar[Principal | None] = ContextVar("principal", default=None)


def current_principal() -> Principal:
    """The caller of the RPC being served.

    Raises:
        AccessDeniedError: if no interceptor authenticated this call (fail closed).
    """
    principal = principal_var.get()
    if principal is None:
        raise AccessDeniedError("call is not authenticated", rule="authn:missing")
    return principal
