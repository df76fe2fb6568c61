"""Credit reports (信用报告): made and signed by the node, checked offline by anyone.

:class:`CreditReports` builds the report of one subject as the requesting
client may see it (through :class:`~gateway.node.queries.RecordQueries`, so the
sharing rules, redaction and the audit of every record read are those of any
query), adds the measures of each list entry and the objections and repair
applications on the entries, and signs it with the node's record-signing key.
The request itself is audited (``report.subject``) with who asked and why.

:func:`verify_report_file` checks a report file offline against the
federation's root certificate: the signing certificate chains to the root and
names the node the report says made it, was valid when the report was made,
and its key signed exactly the payload.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Callable

from cryptography import x509

from gateway.core.algorithms import Ed25519Verifier, Signer
from gateway.core.audit import AuditEvent, Decision, event_by, record_refs
from gateway.core.catalog import Catalog
from gateway.core.credit_report import (
    CREDIT_REPORT_TYPE,
    CreditReport,
    ReportEntry,
    ReportFile,
    ReportMeasure,
    ReportProcedure,
)
from gateway.core.dsse import sign_envelope, verify_envelope
from gateway.core.errors import InputError, MalformedError, SignatureError
from gateway.core.measures import MeasuresList
from gateway.core.principal import Principal
from gateway.node.queries import RecordQueries, RecordView, normalise_subject
from gateway.pki.names import signing_kid
from gateway.pki.validate import verify_signing_certificate
from gateway.store import Store
from gateway.store.discipline import DisciplineRepository

__all__ = ["MAX_REPORT_ENTRIES", "CreditReports", "verify_report_file"]

MAX_REPORT_ENTRIES = 500
"""Entries a report carries; a subject with more is marked truncated."""

# The national 双公示 code of the subject's name (行政相对人名称), in every category.
_NAME_FIELD = "XDR_MC"


class CreditReports:
    """The credit report use case of one node."""

    def __init__(
        self,
        *,
        node_id: str,
        catalog: Catalog,
        measures: MeasuresList,
        queries: RecordQueries,
        store: Store,
        signer: Signer,
        certificate_chain: str,
        audit: Callable[[AuditEvent], None],
        clock: Callable[[], int],
        max_entries: int = MAX_REPORT_ENTRIES,
    ) -> None:
        """Wire the use case.

        Args:
            certificate_chain: PEM of the signing certificate and its CAs, handed out
                with every report so that it can be checked offline.
        """
        self._node_id = node_id
        self._catalog = catalog
        self._measures = measures
        self._queries = queries
        self._discipline = DisciplineRepository(store.engine)
        self._signer = signer
        self._chain = certificate_chain
        self._audit = audit
        self._clock = clock
        self._max_entries = max_entries

    def report(self, principal: Principal, *, subject: str, purpose: str) -> ReportFile:
        """The signed credit report of ``subject`` as ``principal`` may see it.

        Raises:
            InputError: no subject, a malformed one, or no purpose.
            AccessDeniedError: the caller may read no records at all.
            StorageError: the store failed.
        """
        if not subject:
            raise InputError("a credit report needs a subject")
        subject_type, subject_key = normalise_subject(subject)
        views = list(
            itertools.islice(
                self._queries.export(principal, subject=subject, category="", purpose=purpose),
                self._max_entries + 1,
            )
        )
        truncated = len(views) > self._max_entries
        views = views[: self._max_entries]
        lists = tuple(self._entry(v) for v in views if self._is_list(v))
        records = tuple(self._entry(v) for v in views if not self._is_list(v))
        now = self._clock()
        content = CreditReport(
            report_id=uuid.uuid4().hex,
            node=self._node_id,
            generated_at=now,
            requested_by=principal.actor,
            domain=principal.domain or "",
            purpose=purpose,
            subject_type=subject_type.value,
            subject=subject_key,
            names=tuple(
                dict.fromkeys(name for v in views if (name := v.fields.get(_NAME_FIELD, "")) != "")
            ),
            lists=lists,
            records=records,
            procedures=self._procedures([v.record_id for v in views]),
            truncated=truncated,
        )
        payload = content.to_json()
        envelope = sign_envelope(CREDIT_REPORT_TYPE, payload, self._signer)
        self._audit(
            event_by(
                principal,
                node=self._node_id,
                time=now,
                action="report.subject",
                decision=Decision.ALLOWED,
                subject=subject_key,
                purpose=purpose,
                records=record_refs((v.record_id, v.version) for v in views),
                detail=f"report {content.report_id}: {len(lists)} list entries, "
                f"{len(records)} records" + (" (truncated)" if truncated else ""),
            )
        )
        return ReportFile(envelope, self._chain)

    def _is_list(self, view: RecordView) -> bool:
        return self._catalog.category(view.category).kind.is_list

    def _entry(self, view: RecordView) -> ReportEntry:
        category = self._catalog.category(view.category)
        measures = (
            tuple(
                ReportMeasure(
                    code=m.code,
                    label=m.label,
                    effect=m.effect.value,
                    domains=tuple(sorted(m.domains)),
                    basis=m.basis,
                )
                for m in (self._measures.measure(code) for code in category.measures)
            )
            if category.kind.is_list
            else ()
        )
        return ReportEntry(
            record_id=view.record_id,
            version=view.version,
            issuer=view.issuer,
            category=view.category,
            label=category.label,
            status=view.status,
            issued_at=view.issued_at,
            expires_at=view.expires_at,
            fields=dict(view.fields),
            measures=measures,
        )

    def _procedures(self, record_ids: list[str]) -> tuple[ReportProcedure, ...]:
        found: list[ReportProcedure] = []
        discipline = self._discipline
        for record_id in dict.fromkeys(record_ids):
            found.extend(
                ReportProcedure(
                    "objection", o.objection_id, o.record_id, o.state, o.filed_at, o.decided_at
                )
                for o in discipline.list_objections(record_id=record_id, limit=100)
            )
            found.extend(
                ReportProcedure(
                    "repair", r.application_id, r.record_id, r.state, r.applied_at, r.decided_at
                )
                for r in discipline.list_repairs(record_id=record_id, limit=100)
            )
        return tuple(found)


def verify_report_file(data: bytes, *, root: x509.Certificate) -> CreditReport:
    """Check a report file offline and return the report it proves.

    Raises:
        MalformedError: not a report file, or a malformed envelope or payload.
        SignatureError: the signature does not verify, the certificate does not chain
            to ``root`` or belongs to another node than the report names.
        ExpiredError: the certificate was not valid when the report was made.
    """
    file = ReportFile.from_json(data)
    try:
        certificates = x509.load_pem_x509_certificates(file.certificate_chain.encode())
    except ValueError as exc:
        raise MalformedError(f"the report file's certificate chain is not PEM: {exc}") from None
    leaf, chain = certificates[0], certificates[1:]
    # Unverified until the end: it names the node and the time the certificate is checked for.
    claimed = CreditReport.from_json(file.envelope.payload)
    key = verify_signing_certificate(
        leaf,
        chain,
        root=root,
        node_id=claimed.node,
        at_time=dt.datetime.fromtimestamp(claimed.generated_at, dt.UTC),
    )
    kid = signing_kid(leaf)
    verifier = Ed25519Verifier(kid, key)

    def resolve(keyid: str) -> Ed25519Verifier:
        if keyid != kid:
            raise SignatureError(f"key {keyid!r} is not the report's signing certificate")
        return verifier

    verify_envelope(
        file.envelope, expected_type=CREDIT_REPORT_TYPE, resolve_key=resolve, required_keyid=kid
    )
    return claimed
