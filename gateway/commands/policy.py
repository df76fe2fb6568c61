"""``gateway policy explain``: what a recipient gets of a category, field by field, and why.

The answer comes from the same pure function that decides every egress
(:func:`gateway.core.policy.decide`, through :func:`~gateway.core.policy.explain`),
over the catalog packaged for the chosen node: the national base and the
supplements of its province and city.
"""

from __future__ import annotations

import re
from typing import Any

import click

from gateway.commands._common import emit_json, handle_errors, json_option, out_console, print_table
from gateway.core.catalog import Catalog, RecipientKind
from gateway.core.identifiers import SubjectType
from gateway.core.node_id import is_node_id_shape
from gateway.core.policy import Explanation, Recipient, disclosure_names, explain
from gateway.node.catalog_files import load_packaged_catalog

__all__ = ["policy"]

# The catalog's domain codes (snake_case), as its parser accepts them.
_DOMAIN = re.compile(r"[a-z][a-z0-9_]{0,62}")
_PLAIN_KINDS = ("parent", "child", "other_node", "auditor", "public")
_RECIPIENT_HELP = (
    "parent, child, other_node, auditor, public, or department:<domain>[:<role>] "
    "(role defaults to department)"
)


def _parse_recipient(ctx: click.Context, param: click.Parameter, value: str) -> Recipient:
    """``parent`` ... ``public``, or ``department:<domain>[:<role>]``."""
    text = value.strip()
    if text in _PLAIN_KINDS:
        return Recipient(RecipientKind(text))
    kind, _, rest = text.partition(":")
    if kind != RecipientKind.DEPARTMENT.value or not rest:
        raise click.BadParameter(
            f"unknown recipient {text!r}: expected {_RECIPIENT_HELP}", ctx, param
        )
    domain, _, role = rest.partition(":")
    role = role or "department"
    for what, name in (("domain", domain), ("role", role)):
        if not _DOMAIN.fullmatch(name):
            raise click.BadParameter(
                f"department {what} {name!r} must be lower-case letters, digits and '_', "
                "starting with a letter",
                ctx,
                param,
            )
    return Recipient(RecipientKind.DEPARTMENT, domain=domain, role=role)


def _check_node(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not is_node_id_shape(value):
        raise click.BadParameter(f"{value!r} is not a 6-digit region code", ctx, param)
    return value


def _describe(recipient: Recipient) -> str:
    if recipient.kind is RecipientKind.DEPARTMENT and recipient.role != "department":
        return f"department({recipient.domain}, role {recipient.role})"
    return recipient.describe()


def _as_json(
    explanation: Explanation, catalog: Catalog, node_id: str, subject_type: SubjectType | None
) -> dict[str, Any]:
    plan = explanation.plan
    return {
        "node": node_id,
        "catalog": catalog.version,
        "category": plan.category,
        "label": catalog.category(plan.category).label,
        "recipient": {
            "kind": plan.recipient.kind.value,
            "domain": plan.recipient.domain,
            "role": plan.recipient.role,
        },
        "subject_type": subject_type.value if subject_type is not None else None,
        "shared": plan.shared,
        "rule": plan.rule,
        "disclosures": sorted(disclosure_names(plan)),
        "fields": [
            {
                "code": d.code,
                "label": d.label,
                "sensitivity": d.sensitivity.value,
                "visibility": d.visibility.value,
                "rule": d.rule,
                "reason": d.reason,
            }
            for d in explanation.fields
        ],
    }


@click.group()
def policy() -> None:
    """Inspect the sharing scope the catalog gives each recipient."""


@policy.command("explain")
@click.option("--category", "category_code", required=True, help="Catalog category code.")
@click.option(
    "--recipient",
    "recipient",
    required=True,
    callback=_parse_recipient,
    help=f"Who receives: {_RECIPIENT_HELP}.",
)
@click.option(
    "--subject-type",
    type=click.Choice([t.value for t in SubjectType]),
    default=None,
    help="The record's subject type (default: unknown, read as strictly as possible).",
)
@click.option(
    "--node",
    "node_id",
    default="000000",
    show_default=True,
    callback=_check_node,
    help="Region code whose packaged catalog (base + supplements) applies.",
)
@json_option
@handle_errors
def policy_explain(
    *,
    category_code: str,
    recipient: Recipient,
    subject_type: str | None,
    node_id: str,
    as_json: bool,
) -> None:
    """Show, field by field, what --recipient gets of --category and the rule that decided it."""
    catalog = load_packaged_catalog(node_id)
    if category_code not in catalog.categories:
        known = ", ".join(sorted(catalog.categories))
        raise click.BadParameter(
            f"category {category_code!r} is not in catalog {catalog.version} of node {node_id} "
            f"(known: {known})",
            param_hint="'--category'",
        )
    category = catalog.category(category_code)
    subject = SubjectType(subject_type) if subject_type is not None else None
    explanation = explain(category, recipient, subject)
    if as_json:
        emit_json(_as_json(explanation, catalog, node_id, subject))
        return
    plan = explanation.plan
    verdict = f"shared by rule {plan.rule}" if plan.shared else f"not shared: {plan.rule}"
    out_console.print(verdict, highlight=False)
    subject_text = subject.value if subject is not None else "unknown subject type (strictest)"
    print_table(
        f"{category.code} ({category.label}) for {_describe(recipient)}, {subject_text}, "
        f"catalog {catalog.version}",
        ["field", "label", "sensitivity", "gets", "rule", "why"],
        [
            (d.code, d.label, d.sensitivity, d.visibility, d.rule, d.reason)
            for d in explanation.fields
        ],
        droppable=("why", "label"),
    )
