"""谁产生、谁负责: who may file a category, a record's new version, and change its status.

The catalog names, per category, the department domains that may file it
(courts file 失信被执行人, market regulation files 经营异常名录, tax
authorities file 重大税收违法失信主体); ``"*"`` (every list that each competent
authority keeps, such as 严重失信主体名单) and a plain record category that
names none may be filed by any department.

A record issued at a node is the filing department's: only that department
(same node, same domain) or the node's admin may correct or revoke it, or file
a new version of it. Suspension and reinstatement happen only through the
objection procedure, repair only through the repair procedure (minimum period,
approval): never through a bare status call. Records filed before filings were
noted have no known filer; only the admin may change those.
"""

from __future__ import annotations

from gateway.core.catalog import Category
from gateway.core.errors import AccessDeniedError, InputError
from gateway.core.principal import Principal, Role
from gateway.core.statements import StatusKind

__all__ = ["BARE_STATUS_KINDS", "check_category_filer", "check_new_version", "check_status_call"]

BARE_STATUS_KINDS = frozenset({StatusKind.CORRECTION, StatusKind.REVOCATION})
"""What a status call may do; the other kinds belong to a procedure."""

_PROCEDURE = {
    StatusKind.DISPUTE: "the objection procedure (gateway objection)",
    StatusKind.SUSPENSION: "the objection procedure (gateway objection)",
    StatusKind.REINSTATEMENT: "the objection procedure (gateway objection)",
    StatusKind.REPAIR: "the repair procedure (gateway repair)",
}


def _is_filer(principal: Principal, filed_by: str | None) -> bool:
    return (
        principal.role is Role.DEPARTMENT and filed_by is not None and principal.domain == filed_by
    )


def check_status_call(
    principal: Principal, kind: StatusKind, *, record_id: str, filed_by: str | None, reason: str
) -> None:
    """Refuse a status call that the filing rules do not allow.

    Args:
        filed_by: the domain of the department that filed the record, None if unknown.

    Raises:
        AccessDeniedError: a kind reserved to a procedure (rule ``status:procedure-only``),
            or a caller that is neither the filing department nor the admin
            (rule ``status:filer-only``).
        InputError: no reason given.
    """
    if kind not in BARE_STATUS_KINDS:
        raise AccessDeniedError(
            f"a {kind.value} is made only through {_PROCEDURE[kind]}, not by a status call",
            rule="status:procedure-only",
        )
    if not (principal.role is Role.ADMIN or _is_filer(principal, filed_by)):
        who = f"department domain {filed_by}" if filed_by else "an unrecorded department"
        raise AccessDeniedError(
            f"record {record_id} was filed by {who}: only that department or the node's "
            f"admin may make a {kind.value}",
            rule="status:filer-only",
        )
    if not reason.strip():
        raise InputError(f"a {kind.value} needs a reason")


def check_new_version(principal: Principal, *, record_id: str, filed_by: str | None) -> None:
    """Refuse a new version of a record filed by another department.

    Raises:
        AccessDeniedError: the caller is not the filing department (rule ``intake:filer-only``).
    """
    if not _is_filer(principal, filed_by):
        who = f"department domain {filed_by}" if filed_by else "an unrecorded department"
        raise AccessDeniedError(
            f"record {record_id} was filed by {who}: only that department may file a new "
            "version of it",
            rule="intake:filer-only",
        )


def check_category_filer(principal: Principal, category: Category) -> None:
    """Refuse a department whose domain may not file ``category`` (the catalog's filing domains).

    Raises:
        AccessDeniedError: rule ``intake:filing-domain``.
    """
    if category.may_be_filed_by(principal.domain):
        return
    allowed = ", ".join(sorted(category.filing_domains))
    raise AccessDeniedError(
        f"category {category.code} ({category.label}) is filed only by department domains "
        f"{allowed}, not {principal.domain or 'none'}",
        rule="intake:filing-domain",
    )
