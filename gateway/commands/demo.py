"""``gateway demo``: a whole local federation on SQLite, every flow, and a summary.

Six nodes run as separate `gateway serve` processes over mutual TLS on
loopback, each with its own SQLite file under one folder: national ``000000``,
Zhejiang ``330000`` with Huzhou ``330500`` and Lishui ``331100``, Hunan
``430000`` with Changsha ``430100``. The demo submits the bundled 双公示 samples
(written for the day of the run) at Huzhou, shows them at Zhejiang and
national redacted to each one's scope with Huzhou's signature intact, issues a
national notice and shows it at every city, has the Huzhou court file a
失信被执行人 listing that a procurement check answers INTERCEPT for at Lishui and
in another province, at Changsha (一处失信、处处受限), checks the listed subject at
Huzhou (a procurement department is intercepted, a public-service one is not)
with feedback reaching the national issuer, files an objection at Huzhou that
the national node accepts (DISPUTED) and dismisses (INTERCEPT again), repairs
the notice (CLEAR), revokes a record and shows every holder confirm, and
prints a summary. ``--keep`` leaves the nodes running and prints how to talk
to them.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from adapters.sample_files import write as write_samples
from gateway._proto.v1 import discipline_pb2, discipline_pb2_grpc, intake_pb2, intake_pb2_grpc
from gateway.commands._common import handle_errors, out_console, print_table
from gateway.core.algorithms import Ed25519Verifier
from gateway.core.errors import ConfigurationError, GatewayError
from gateway.core.identifiers import compute_citizen_check, make_uscc
from gateway.core.record_status import RecordStatus
from gateway.core.records import CHINA_STANDARD_TIME, verify_record
from gateway.node.config import FederationSettings
from gateway.node.local_federation import ClientSpec, LocalFederation
from gateway.pki import load_client_credentials, signing_kid
from gateway.rpc.client import open_client_channel

__all__ = ["demo"]

NATIONAL, ZHEJIANG, HUZHOU, LISHUI, HUNAN, CHANGSHA = (
    "000000",
    "330000",
    "330500",
    "331100",
    "430000",
    "430100",
)
NODES = (NATIONAL, ZHEJIANG, HUZHOU, LISHUI, HUNAN, CHANGSHA)
CITIES = (HUZHOU, LISHUI, CHANGSHA)
CLIENTS = (
    ClientSpec(HUZHOU, "procurement-office", "department", "procurement"),
    ClientSpec(HUZHOU, "service-office", "department", "public_service"),
    ClientSpec(HUZHOU, "court-office", "department", "court"),
    ClientSpec(LISHUI, "procurement-office", "department", "procurement"),
    ClientSpec(LISHUI, "consumption-office", "department", "high_consumption"),
    ClientSpec(CHANGSHA, "procurement-office", "department", "procurement"),
    ClientSpec(NATIONAL, "credit-admin", "admin"),
    ClientSpec(NATIONAL, "credit-office", "department", "public_office"),
    *(ClientSpec(node, "audit-office", "auditor") for node in NODES),
)
TIMED_LISTINGS = 3
"""Listings filed over open channels to time filing at Huzhou -> INTERCEPT at Changsha."""
SAMPLES = ("huzhou_penalties.csv", "huzhou_licences.csv", "huzhou_penalties_with_errors.csv")
PURPOSE = "gateway demo"
WAIT_S = 120.0
T = TypeVar("T")


def _step(title: str) -> None:
    out_console.rule(f"[bold]{title}")


def _gateway(*args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    if not capture:
        out_console.print(f"[dim]$ gateway {' '.join(args)}[/]", highlight=False)
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        check=False,
        text=True,
        capture_output=capture,
        timeout=600,
    )


def _json_lines(*args: str) -> list[dict[str, Any]]:
    result = _gateway(*args, "--json", capture=True)
    if result.returncode not in (0, 1):
        raise ConfigurationError(f"gateway {args[0]} failed: {result.stderr.strip()[-500:]}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def _wait(what: str, probe: Callable[[], T | None]) -> T:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    raise ConfigurationError(f"timed out waiting for {what}")


def _records(fed: LocalFederation, node: str, client: str = "audit-office") -> dict[str, Any]:
    rows = _json_lines(
        "records", "list", "--as", str(fed.client(node, client)), "--purpose", PURPOSE,
        "--limit", "500",
    )  # fmt: skip
    return {r["record_id"]: r for r in rows}


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for keys, configs, databases and logs (default: a temporary folder).",
)
@click.option("--keep", is_flag=True, help="Leave the nodes running and print how to use them.")
@handle_errors
def demo(*, directory: Path | None, keep: bool) -> None:
    """Run a local six-node federation on SQLite through every flow; print a summary."""
    workdir = directory or Path(tempfile.mkdtemp(prefix="gateway-demo-"))
    started = time.monotonic()
    _step("1. PKI and directory: root CA, a CA per node, TLS + Ed25519 signing certificates")
    fed = LocalFederation.create(
        workdir,
        NODES,
        CLIENTS,
        settings=FederationSettings(
            sync_interval_s=1.0, initial_backoff_ms=100, max_backoff_ms=2000
        ),
    )
    out_console.print(f"{len(NODES)} nodes, signed federation directory, configs under {workdir}")
    _step("2. Start every node as its own `gateway serve` process (mutual TLS, SQLite)")
    summary: dict[str, Any] = {}
    try:
        fed.start_all()
        for node in NODES:
            out_console.print(f"node {node} on {fed.endpoint(node)}", highlight=False)
        summary.update(_intake(fed))
        summary.update(_upstream(fed, summary["accepted_ids"]))
        summary.update(_notice(fed))
        summary.update(_city_listing(fed))
        summary.update(
            _discipline(
                fed, summary["notice_id"], summary["notice_subject"], summary["penalised_subject"]
            )
        )
        summary.update(_revocation(fed, summary["sample_record"]))
        summary.update(_duties(fed, summary["listed_subject"]))
        summary["elapsed_s"] = round(time.monotonic() - started, 1)
        _print_summary(summary)
        if keep:
            _print_keep(fed)
            return
    finally:
        if not keep:
            fed.stop_all()
    if directory is None:
        shutil.rmtree(workdir, ignore_errors=True)


def _intake(fed: LocalFederation) -> dict[str, Any]:
    _step(
        f"3. Intake at Huzhou ({HUZHOU}): 双公示 files validated, signed, stored, queued upstream"
    )
    dept = fed.client(HUZHOU, "procurement-office")
    outcomes: Counter[str] = Counter()
    accepted: set[str] = set()
    # The samples are written for the day of the run (China Standard Time, the
    # intake's calendar), so every record is in force whatever today's date is.
    today = dt.datetime.now(CHINA_STANDARD_TIME).date()
    files = write_samples(fed.root / "samples", today)
    out_console.print(f"samples written for {today.isoformat()} in {fed.root / 'samples'}")
    for name in SAMPLES:
        rows = _json_lines("submit", "--as", str(dept), str(files[name]))
        counts = Counter(r["outcome"] for r in rows)
        outcomes.update(counts)
        accepted |= {r["record_id"] for r in rows if r["outcome"] == "accepted"}
        out_console.print(
            f"{name}: {counts['accepted']} accepted, {counts['refused']} refused",
            highlight=False,
        )
    _gateway("submit", "--as", str(dept), str(files[SAMPLES[-1]]))
    return {
        "accepted": outcomes["accepted"],
        "refused": outcomes["refused"],
        "duplicates_on_resubmit": outcomes["duplicate"],
        "accepted_ids": accepted,
    }


def _upstream(fed: LocalFederation, ids: set[str]) -> dict[str, Any]:
    _step("4. Upstream: Huzhou -> Zhejiang -> national, redacted per scope, signature intact")

    def national_has_all() -> dict[str, Any] | None:
        rows = _records(fed, NATIONAL)
        return rows if ids <= set(rows) else None

    at_national = _wait("the records at national", national_has_all)
    at_province = _records(fed, ZHEJIANG)
    at_city = _records(fed, HUZHOU, "procurement-office")
    record_id = next(rid for rid in sorted(ids) if at_national[rid]["category"] == "admin_penalty")
    # A company with a serious penalty in force: its check asks for review (step 7).
    penalised = next(
        (
            view["fields"]["XDR_SHXYM"]
            for _rid, view in sorted(at_city.items())
            if view["category"] == "admin_penalty"
            and view["fields"].get("CF_YZCD") == "serious"
            and view["fields"].get("XDR_SHXYM")
        ),
        "",
    )
    views = [at_city.get(record_id, {}), at_province[record_id], at_national[record_id]]
    codes = sorted(set().union(*(v.get("fields", {}) for v in views)))
    print_table(
        f"record {record_id} (admin_penalty) as each recipient sees it",
        ["field", "Huzhou procurement", "Zhejiang auditor", "national auditor"],
        [(c, *(v.get("fields", {}).get(c, "—") for v in views)) for c in codes],
    )
    verified = _verify_all(
        fed, [r["sd_jwt"] for r in at_national.values() if r["issuer"] == HUZHOU]
    )
    out_console.print(
        f"{verified} records at national verified offline against Huzhou's signing certificate"
    )
    return {
        "at_province": len(at_province),
        "at_national": len(at_national),
        "verified_at_national": verified,
        "fields_city_province_national": " / ".join(str(len(v.get("fields", {}))) for v in views),
        "sample_record": record_id,
        "penalised_subject": penalised,
    }


def _verify_all(fed: LocalFederation, sd_jwts: list[str]) -> int:
    cert = x509.load_pem_x509_certificate(
        (fed.keys / "nodes" / HUZHOU / "signing.crt").read_bytes()
    )
    key = cert.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigurationError("Huzhou's signing certificate holds no Ed25519 key")
    verifier = Ed25519Verifier(signing_kid(cert), key)
    now = int(dt.datetime.now(dt.UTC).timestamp())
    for sd_jwt in sd_jwts:
        verify_record(sd_jwt, resolve_key=lambda _k: verifier, key_owner=lambda _k: HUZHOU, now=now)
    return len(sd_jwts)


def _notice(fed: LocalFederation) -> dict[str, Any]:
    _step("5. Downstream: a national notice (严重失信主体名单) reaches every city")
    subject = make_uscc("91430100", "MA4L0T3B")
    authority = make_uscc("11100000", "00001371")
    # Decided 400 days ago: still listed (36 months) and past the 12-month repair minimum.
    decided = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=400)).isoformat()
    rows = _json_lines(
        "notices", "issue", "--as", str(fed.client(NATIONAL, "credit-office")),
        "--list", "serious_dishonesty", "--subject", subject, "--name", "长沙示例建设有限公司",
        "--document", "发改财金〔2026〕88号", "--reason", "拒不履行法院生效判决，情节严重",
        "--basis", "《失信行为纠正后的信用信息修复管理办法》",
        "--authority", "国家发展和改革委员会", "--authority-code", authority,
        "--measures", "限制参与政府采购、招标投标", "--decided", decided,
    )  # fmt: skip
    notice_id = rows[0]["record_id"]
    for city in CITIES:
        _wait(f"the notice at {city}", _holds(fed, city, notice_id))
        out_console.print(f"notice {notice_id} is held at city {city}", highlight=False)
    return {"notice_cities": len(CITIES), "notice_id": notice_id, "notice_subject": subject}


def _city_listing(fed: LocalFederation) -> dict[str, Any]:
    _step("6. 一处失信、处处受限: a Huzhou court's listing intercepts at Lishui and in Hunan")
    subject = make_uscc("91330502", "MA2D5R8Q")
    # The company's legal representative, whom 限制高消费 reaches too (法释〔2015〕17号 第三条).
    legal_rep = "33050219800115003" + compute_citizen_check("33050219800115003")
    # Filed ten days ago: in force for the catalog's 24 months.
    decided = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=10)).isoformat()
    rows = _json_lines(
        "notices", "issue", "--as", str(fed.client(HUZHOU, "court-office")),
        "--list", "dishonest_debtor", "--subject", subject, "--name", "湖州示例贸易有限公司",
        "--document", "（2026）浙0502执1234号",
        "--reason", "有履行能力而拒不履行生效法律文书确定义务",
        "--basis", "（2025）浙0502民初567号", "--authority", "湖州市吴兴区人民法院",
        "--decided", decided, "--field", "FRDB=沈一", "--field", "FR_ZJLX=身份证",
        "--field", f"FR_ZJHM={legal_rep}",
    )  # fmt: skip
    listing_id = rows[0]["record_id"]
    out_console.print(
        f"listing {listing_id} filed at city {HUZHOU} by its court: it goes up to Zhejiang and "
        "national, and every hub sends it down to all its cities",
        highlight=False,
    )

    def decision(city: str) -> Callable[[], str | None]:
        def probe() -> str | None:
            rows = _json_lines(
                "check", "--as", str(fed.client(city, "procurement-office")), subject,
                "--domain", "procurement", "--purpose", "政府采购供应商资格审查",
            )  # fmt: skip
            return "intercept" if rows and rows[0]["decision"] == "intercept" else None

        return probe

    at_changsha = _wait(f"INTERCEPT at {CHANGSHA}", decision(CHANGSHA))
    at_lishui = _wait(f"INTERCEPT at {LISHUI}", decision(LISHUI))
    _gateway(
        "check", "--as", str(fed.client(CHANGSHA, "procurement-office")), subject,
        "--domain", "procurement", "--purpose", "政府采购供应商资格审查", "--case", "CSCG-2026-31",
    )  # fmt: skip
    out_console.print(
        f"procurement check at Lishui {LISHUI}: {at_lishui}; at Changsha {CHANGSHA} (Hunan): "
        f"{at_changsha}",
        highlight=False,
    )
    [person] = _json_lines(
        "check", "--as", str(fed.client(LISHUI, "consumption-office")), legal_rep,
        "--domain", "high_consumption", "--purpose", "限制消费令协助执行",
    )  # fmt: skip
    [via] = person["hits"]
    out_console.print(
        f"high-consumption check at Lishui on the legal representative's number: "
        f"{person['decision']}, {via['person_role']} of {via['listed_name']} "
        f"({via['listed_subject']}), measures {', '.join(m['code'] for m in via['measures'])}",
        highlight=False,
    )
    timed = _time_listings(fed, decided)
    out_console.print(
        f"{len(timed)} more listings filed at Huzhou over an open channel: INTERCEPT at Changsha "
        f"after {', '.join(f'{ms:.0f}' for ms in timed)} ms (Huzhou -> Zhejiang -> national "
        "-> Hunan -> Changsha, each hop verifying Huzhou's signature)",
        highlight=False,
    )
    return {
        "city_listing": f"{at_lishui} / {at_changsha}",
        "legal_rep": f"{person['decision']} ({via['person_role']})",
        "city_listing_ms": f"{statistics.median(timed):.0f} ms (median of {len(timed)})",
        "listed_subject": subject,
    }


def _time_listings(fed: LocalFederation, decided: str) -> list[float]:
    """Milliseconds from filing a listing at Huzhou until a Changsha check intercepts, each.

    The court files over its own open channel and Changsha's procurement
    department polls ``Check`` over another, so no command start is timed.
    """
    court = open_client_channel(load_client_credentials(fed.client(HUZHOU, "court-office")))
    checker = open_client_channel(
        load_client_credentials(fed.client(CHANGSHA, "procurement-office"))
    )
    intake = intake_pb2_grpc.IntakeStub(court)
    discipline = discipline_pb2_grpc.DisciplineStub(checker)
    samples: list[float] = []
    try:
        for i in range(TIMED_LISTINGS):
            subject = make_uscc("91330502", f"MA2D5T{i:02d}")
            fields = {
                "XDR_MC": f"湖州示例计时企业{i}有限公司", "XDR_LB": "法人及非法人组织",
                "XDR_SHXYM": subject, "LB_AH": f"（2026）浙0502执{2000 + i}号",
                "LB_ZXFY": "湖州市吴兴区人民法院", "LB_ZXYJ": f"（2025）浙0502民初{600 + i}号",
                "LB_SXQX": "有履行能力而拒不履行生效法律文书确定义务", "LB_FBRQ": decided,
            }  # fmt: skip
            check = discipline_pb2.CheckRequest(subject=subject, purpose="政府采购供应商资格审查")
            request = intake_pb2.SubmitRequest(
                records=[
                    intake_pb2.SubmittedRecord(
                        ref=str(i), category="dishonest_debtor", fields=fields
                    )
                ]
            )
            start = time.perf_counter()
            replies = [
                r for reply in intake.Submit(iter([request]), timeout=30) for r in reply.results
            ]
            if [r.outcome for r in replies] != [intake_pb2.SUBMIT_OUTCOME_ACCEPTED]:
                raise GatewayError(f"Huzhou refused the timed listing {i}: {replies}")
            while discipline.Check(check, timeout=10).decision != "intercept":
                if time.perf_counter() - start > WAIT_S:
                    raise ConfigurationError(f"timed listing {i} never intercepted at Changsha")
                time.sleep(0.01)
            samples.append((time.perf_counter() - start) * 1000)
    finally:
        court.close()
        checker.close()
    return samples


def _discipline(
    fed: LocalFederation, notice_id: str, subject: str, penalised: str
) -> dict[str, Any]:
    _step("7. 逢办必查 at Huzhou: check before acting, then feedback to the notice's issuer")
    procurement = fed.client(HUZHOU, "procurement-office")
    service = fed.client(HUZHOU, "service-office")
    _gateway(
        "check", "--as", str(procurement), subject, "--domain", "procurement",
        "--purpose", "政府采购投标资格审查", "--case", "HZCG-2026-118",
    )  # fmt: skip
    hit = _json_lines(
        "check", "--as", str(procurement), subject, "--domain", "procurement",
        "--purpose", "政府采购投标资格审查", "--case", "HZCG-2026-118",
    )[0]  # fmt: skip
    other = _json_lines(
        "check", "--as", str(service), subject, "--domain", "public_service",
        "--purpose", "公共服务事项办理",
    )[0]  # fmt: skip
    out_console.print(
        f"procurement department: {hit['decision']}; public-service department: "
        f"{other['decision']}",
        highlight=False,
    )
    # No list names this company, but a serious penalty is in force: review, not a ban.
    _gateway(
        "check", "--as", str(procurement), penalised, "--domain", "procurement",
        "--purpose", "政府采购投标资格审查", "--case", "HZCG-2026-119",
    )  # fmt: skip
    weighed = _json_lines(
        "check", "--as", str(procurement), penalised, "--domain", "procurement",
        "--purpose", "政府采购投标资格审查", "--case", "HZCG-2026-119",
    )[0]  # fmt: skip
    _json_lines(
        "feedback", "send", "--as", str(procurement), hit["check_id"], notice_id,
        "--action", "applied", "--note", "投标资格不予通过",
    )  # fmt: skip
    admin = fed.client(NATIONAL, "credit-admin")

    def feedback_at_issuer() -> bool:
        result = _gateway("feedback", "list", "--as", str(admin), notice_id, "--json", capture=True)
        return result.returncode == 0 and "applied" in result.stdout

    _wait("the feedback at the national node", feedback_at_issuer)
    _gateway("feedback", "list", "--as", str(admin), notice_id)

    def decision() -> str:
        rows = _json_lines(
            "check", "--as", str(procurement), subject, "--domain", "procurement",
            "--purpose", "政府采购投标资格审查",
        )  # fmt: skip
        return str(rows[0]["decision"])

    def until(expected: str) -> Callable[[], str | None]:
        def probe() -> str | None:
            got = decision()
            return got if got == expected else None

        return probe

    _step("8. 异议 and 信用修复: an objection filed at Huzhou is decided by the national issuer")
    filed = _json_lines(
        "objection", "file", "--as", str(procurement), notice_id,
        "--grounds", "当事人已于列入前全部履行判决义务",
    )[0]  # fmt: skip
    objection_id = filed["objection_id"]

    def objection_arrived() -> bool:
        rows = _json_lines("objection", "list", "--as", str(admin))
        return any(r.get("objection_id") == objection_id for r in rows)

    _wait("the objection at the issuer", objection_arrived)
    _gateway(
        "objection", "decide", "--as", str(admin), objection_id, "--decision", "accept",
        "--reason", "受理异议，核查期间暂停惩戒措施",
    )  # fmt: skip
    disputed = _wait("DISPUTED at Huzhou", until("disputed"))
    _gateway(
        "objection", "decide", "--as", str(admin), objection_id, "--decision", "dismiss",
        "--reason", "经核查异议理由不成立",
    )  # fmt: skip
    restored = _wait("INTERCEPT again at Huzhou", until("intercept"))
    application = _json_lines(
        "repair", "apply", "--as", str(admin), notice_id,
        "--reason", "失信行为已纠正，申请信用修复",
    )[0]  # fmt: skip
    _gateway(
        "repair", "approve", "--as", str(admin), application["application_id"],
        "--note", "准予修复，停止公示与共享",
    )  # fmt: skip
    repaired = _wait("CLEAR at Huzhou after repair", until("clear"))
    out_console.print(
        f"objection accepted: {disputed}; dismissed: {restored}; repaired: {repaired}",
        highlight=False,
    )
    return {
        "check_procurement": hit["decision"],
        "check_other_domain": other["decision"],
        "check_penalised": weighed["decision"],
        "objection_repair": f"{disputed} / {restored} / {repaired}",
    }


def _holds(fed: LocalFederation, node: str, record_id: str) -> Callable[[], bool]:
    return lambda: record_id in _records(fed, node)


def _revocation(fed: LocalFederation, record_id: str) -> dict[str, Any]:
    _step("9. Revocation at the issuer: every node that holds the record applies and confirms")
    dept = fed.client(HUZHOU, "procurement-office")
    _gateway(
        "records", "status", "--as", str(dept), record_id, "--kind", "revocation",
        "--reason", "行政复议撤销原处罚决定",
    )  # fmt: skip

    def all_confirmed() -> list[dict[str, Any]] | None:
        result = _gateway("records", "where", "--as", str(dept), record_id, "--json", capture=True)
        if result.returncode != 0:
            return None
        holders: list[dict[str, Any]] = json.loads(result.stdout)["holders"]
        done = holders and all(h["confirmed_status"] == RecordStatus.REVOKED for h in holders)
        return holders if done else None

    holders = _wait("every holder to confirm", all_confirmed)
    _gateway("records", "where", "--as", str(dept), record_id)
    still_served = record_id in _records(fed, NATIONAL)
    if still_served:
        raise GatewayError("national still serves a revoked record")
    return {"holders_confirmed": len(holders)}


def _duties(fed: LocalFederation, subject: str) -> dict[str, Any]:
    _step("10. 双公示 and the office's duties: the public feed, timeliness, a credit report")
    feed = fed.feeds[ZHEJIANG]
    root = fed.keys / "root" / "ca.crt"
    [checked] = _json_lines("publication", "verify", feed, "--root", str(root))
    out_console.print(
        f"Zhejiang's public feed {feed}/v1/feed: {checked['published_entries']} publish and "
        f"{checked['withdrawn_entries']} withdraw entries verified against the root; "
        f"{checked['published_now']} records published now (its own and its cities')",
        highlight=False,
    )
    _gateway("report", "timeliness", "--config", str(fed.config(HUZHOU)))
    [timeliness] = _json_lines("report", "timeliness", "--config", str(fed.config(HUZHOU)))
    late = sum(d["late"] for d in timeliness["departments"])
    out = fed.root / "credit-report"
    [report] = _json_lines(
        "report", "subject", subject, "--as", str(fed.client(HUZHOU, "procurement-office")),
        "--purpose", "政府采购供应商资格审查", "--out", str(out),
    )  # fmt: skip
    out_console.print(
        f"credit report of {subject}: {report['lists']} list entries, {report['records']} "
        f"records, signed by Huzhou: {out.with_suffix('.pdf')} and {out.with_suffix('.json')}",
        highlight=False,
    )
    _gateway("report", "verify", str(out.with_suffix(".json")), "--root", str(root))
    return {
        "feed": feed,
        "feed_published": checked["published_now"],
        "late_at_huzhou": late,
        "credit_report": str(out.with_suffix(".pdf")),
    }


def _print_summary(summary: dict[str, Any]) -> None:
    _step("Summary")
    print_table(
        "gateway demo: six nodes, two provinces, separate processes, mutual TLS, SQLite",
        ["what", "result"],
        [
            ("records accepted at Huzhou (signed and stored)", summary["accepted"]),
            ("lines refused with a reason", summary["refused"]),
            ("records held at Zhejiang", summary["at_province"]),
            ("records held at national", summary["at_national"]),
            ("Huzhou signatures verified at national", summary["verified_at_national"]),
            ("fields of one record: Huzhou / Zhejiang / national",
             summary["fields_city_province_national"]),
            ("cities holding the national notice", summary["notice_cities"]),
            ("city listing: Lishui / Changsha", summary["city_listing"]),
            ("its legal representative, Lishui", summary["legal_rep"]),
            ("city listing to INTERCEPT, Changsha", summary["city_listing_ms"]),
            ("check at Huzhou: procurement / public service",
             f"{summary['check_procurement']} / {summary['check_other_domain']}"),
            ("check at Huzhou: serious penalty, no listing", summary["check_penalised"]),
            ("check after objection accepted / dismissed / repair", summary["objection_repair"]),
            ("holders confirming the revocation", summary["holders_confirmed"]),
            ("Zhejiang's public feed: records published now", summary["feed_published"]),
            ("penalties and licences reported late at Huzhou", summary["late_at_huzhou"]),
            # The file name only: a long path would squeeze the labels into wrapping.
            ("credit report (PDF, signed JSON twin)", Path(summary["credit_report"]).name),
            ("elapsed", f"{summary['elapsed_s']} s"),
        ],
    )  # fmt: skip


def _print_keep(fed: LocalFederation) -> None:
    out_console.print("\nthe nodes keep running:", highlight=False)
    for node, pid in fed.pids().items():
        out_console.print(f"  {node} on {fed.endpoint(node)} (pid {pid})", highlight=False)
    dept = fed.client(HUZHOU, "procurement-office")
    out_console.print(f"try:  gateway records list --as {dept} --purpose test", highlight=False)
    out_console.print(
        f"      gateway audit events --as {fed.client(NATIONAL, 'audit-office')}", highlight=False
    )
    out_console.print(
        f"stop: kill {' '.join(str(p) for p in fed.pids().values())}", highlight=False
    )
