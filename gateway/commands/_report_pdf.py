"""The PDF rendering of a verified credit report (WeasyPrint, Noto CJK).

The PDF is for people; the signed JSON twin is the evidence. Its last section
prints the report id and the SHA-256 of the signed payload, which `gateway
report verify` prints for the JSON, so the two can be matched.
Values are escaped: a record's fields are the departments' text, not markup.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Sequence
from pathlib import Path

from gateway.core.credit_report import CreditReport, ReportEntry, ReportMeasure
from gateway.core.records import CHINA_STANDARD_TIME

__all__ = ["render_report_pdf"]

# fonts-noto-cjk (Debian) provides it; the generic family is the fallback.
_CSS = """
@page { size: A4; margin: 18mm 15mm 20mm 15mm;
  @bottom-center { content: "第 " counter(page) " 页 / 共 " counter(pages) " 页";
                   font-size: 7pt; color: #555; } }
body { font-family: "Noto Sans CJK SC", "Noto Sans CJK", sans-serif; font-size: 9.5pt; }
h1 { font-size: 17pt; text-align: center; margin: 0 0 4mm 0; }
h2 { font-size: 12pt; border-bottom: 1px solid #333; margin: 6mm 0 2mm 0; }
table { border-collapse: collapse; width: 100%; margin-bottom: 3mm; }
th, td { border: 1px solid #999; padding: 1.2mm 1.8mm; vertical-align: top; text-align: left; }
th { background: #eee; width: 28%; }
.none { color: #555; }
"""

_SUBJECT_TYPES = {"legal_person": "法人及非法人组织", "natural_person": "自然人"}
_EFFECTS = {"prohibit": "禁止", "restrict": "限制", "review": "重点审查", "incentive": "激励"}


def _time(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M")


def _rows(pairs: Iterable[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in pairs)


def _entry(entry: ReportEntry) -> str:
    pairs = [
        ("类别", entry.label),
        ("记录编号", f"{entry.record_id} 第 {entry.version} 版"),
        ("认定机构所在节点", entry.issuer),
        ("状态", entry.status),
        ("公示期至", _time(entry.expires_at)),
        *sorted(entry.fields.items()),
    ]
    text = f"<table>{_rows(pairs)}</table>"
    if entry.measures:
        measures = [(m.label, _measure_text(m)) for m in entry.measures]
        text += f"<table><tr><th colspan='2'>联合惩戒/激励措施</th></tr>{_rows(measures)}</table>"
    return text


def _measure_text(measure: ReportMeasure) -> str:
    effect = _EFFECTS.get(measure.effect, measure.effect)
    domains = "、".join(measure.domains)
    return f"{effect}（{domains}）；依据：{measure.basis}"


def _section(title: str, entries: Sequence[ReportEntry], empty: str) -> str:
    body = "".join(_entry(e) for e in entries) or f"<p class='none'>{html.escape(empty)}</p>"
    return f"<h2>{html.escape(title)}</h2>{body}"


def _html(report: CreditReport, digest: str) -> str:
    head = [
        ("主体名称", "、".join(report.names) or "（未披露）"),
        ("主体类型", _SUBJECT_TYPES.get(report.subject_type, report.subject_type)),
        ("主体标识", report.subject),
        ("出具节点", report.node),
        ("生成时间", _time(report.generated_at)),
        ("查询单位", report.requested_by),
        ("查询事由", report.purpose),
        ("报告编号", report.report_id),
    ]
    procedures = [
        (
            f"{'异议' if p.kind == 'objection' else '信用修复'} {p.procedure_id}",
            f"记录 {p.record_id}：{p.state}，{_time(p.started_at)} 提出"
            + (f"，{_time(p.decided_at)} 决定" if p.decided_at is not None else ""),
        )
        for p in report.procedures
    ]
    truncated = (
        "<p>本报告仅列出前若干条信息，其余请通过查询接口获取。</p>" if report.truncated else ""
    )
    return (
        "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
        f"<title>信用报告 {html.escape(report.report_id)}</title></head><body>"
        "<h1>公共信用信息报告</h1>"
        f"<h2>基本信息</h2><table>{_rows(head)}</table>"
        + _section("在列名单（黑名单、红名单）", report.lists, "无在列名单信息。")
        + _section("公示期内的信用记录", report.records, "无公示期内的信用记录。")
        + "<h2>异议与信用修复</h2>"
        + (f"<table>{_rows(procedures)}</table>" if procedures else "<p class='none'>无。</p>")
        + truncated
        + "<h2>签名</h2><p>本报告由出具节点以其记录签名密钥签名（DSSE），"
        "签名文件与本 PDF 同名（.json），可用 gateway report verify 离线验证。</p>"
        f"<table>{_rows([('报告编号', report.report_id), ('签名载荷 SHA-256', digest)])}</table>"
        "</body></html>"
    )


def render_report_pdf(report: CreditReport, digest: str, out: Path) -> None:
    """Write the PDF of ``report`` (whose signed payload has SHA-256 ``digest``) to ``out``."""
    # WeasyPrint loads Pango and fonts: only the commands that write a PDF pay for it.
    import weasyprint

    weasyprint.HTML(string=_html(report, digest)).write_pdf(
        str(out), stylesheets=[weasyprint.CSS(string=_CSS)]
    )
