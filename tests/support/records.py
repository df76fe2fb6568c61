"""Valid 双公示 administrative-penalty rows, generated deterministically for tests."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
from pathlib import Path

from gateway.core.identifiers import compute_citizen_check, make_uscc

_ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
AUTHORITY = make_uscc("11330500", "00267531")

PENALTY_COLUMNS = (
    "XDR_MC", "XDR_LB", "XDR_SHXYM", "FRDB", "FR_ZJLX", "FR_ZJHM", "CF_WSH", "CF_WFXW", "CF_YJ",
    "CF_CFLB", "CF_NR", "CF_NR_FK", "CF_JDRQ", "CF_YXQ", "CF_CFJG", "CF_CFJGDM", "CF_SJLY",
    "CF_SJLYDM", "CF_YZCD",
)  # fmt: skip


def company_code(i: int) -> str:
    """A valid USCC for company number ``i`` in Huzhou (region 330502)."""
    body = ""
    n = i
    for _ in range(8):
        n, digit = divmod(n, 31)
        body = _ORG_ALPHABET[digit] + body
    return make_uscc("91330502", "M" + body[1:])


def citizen_number(i: int) -> str:
    """A valid GB 11643 citizen number born in 1980 for person ``i``."""
    first17 = f"330502198001{1 + i % 28:02d}{i % 1000:03d}"
    return first17 + compute_citizen_check(first17)


def penalty_fields(i: int, *, decided: dt.date, severity: str = "general") -> dict[str, str]:
    """One valid administrative penalty against a company."""
    return {
        "XDR_MC": f"湖州测试企业{i}有限公司",
        "XDR_LB": "法人及非法人组织",
        "XDR_SHXYM": company_code(i),
        "FRDB": "张三",
        "FR_ZJLX": "身份证",
        "FR_ZJHM": citizen_number(i),
        "CF_WSH": f"湖环罚〔2025〕{i}号",
        "CF_WFXW": "超标排放大气污染物",
        "CF_YJ": "《中华人民共和国大气污染防治法》第九十九条",
        "CF_CFLB": "罚款",
        "CF_NR": "罚款人民币十万元",
        "CF_NR_FK": "10",
        "CF_JDRQ": decided.isoformat(),
        "CF_YXQ": (decided + dt.timedelta(days=365)).isoformat(),
        "CF_CFJG": "湖州市生态环境局",
        "CF_CFJGDM": AUTHORITY,
        "CF_SJLY": "湖州市生态环境局",
        "CF_SJLYDM": AUTHORITY,
        "CF_YZCD": severity,
    }


def write_penalty_csv(
    path: Path, rows: list[dict[str, str]], *, extra_columns: tuple[str, ...] = ()
) -> Path:
    """A CSV in the national layout: field codes as headers, one row per record."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=[*PENALTY_COLUMNS, *extra_columns], restval="", extrasaction="raise"
        )
        writer.writeheader()
        writer.writerows(rows)
    return path


NATIONAL_AUTHORITY = make_uscc("11100000", "00001371")


def notice_fields(i: int, *, decided: dt.date) -> dict[str, str]:
    """One serious-dishonesty list entry (a national or provincial notice) against a company."""
    return {
        "XDR_MC": f"失信测试企业{i}有限公司",
        "XDR_LB": "法人及非法人组织",
        "XDR_SHXYM": company_code(100_000 + i),
        "FRDB": "李四",
        "FR_ZJLX": "身份证",
        "FR_ZJHM": citizen_number(500 + i),
        "LB_WSH": f"发改财金〔2026〕{i}号",
        "LB_LRYY": "拒不履行法定义务，严重影响司法机关、行政机关公信力",
        "LB_YJ": "《失信行为纠正后的信用信息修复管理办法》",
        "LB_JDRQ": decided.isoformat(),
        "LB_RDJG": "国家发展和改革委员会",
        "LB_RDJGDM": NATIONAL_AUTHORITY,
    }


def debtor_fields(i: int, *, decided: dt.date) -> dict[str, str]:
    """One valid 失信被执行人 listing of a company (filed by a court)."""
    return {
        "XDR_MC": f"被执行测试企业{i}有限公司",
        "XDR_LB": "法人及非法人组织",
        "XDR_SHXYM": company_code(100_000 + i),
        "LB_AH": f"（2026）浙0502执{i}号",
        "LB_ZXFY": "湖州市吴兴区人民法院",
        "LB_ZXYJ": f"（2025）浙0502民初{i}号",
        "LB_SXQX": "有履行能力而拒不履行生效法律文书确定义务",
        "LB_FBRQ": decided.isoformat(),
    }


def abnormal_fields(i: int, *, decided: dt.date) -> dict[str, str]:
    """One 经营异常名录 entry of a company (filed by market regulation)."""
    return {
        "XDR_MC": f"异常测试企业{i}有限公司",
        "XDR_SHXYM": company_code(100_000 + i),
        "LB_WSH": f"湖市监异〔2026〕{i}号",
        "LB_LRYY": "未按规定期限公示年度报告",
        "LB_JDRQ": decided.isoformat(),
        "LB_ZCJG": "湖州市市场监督管理局",
        "LB_ZCJGDM": AUTHORITY,
    }


def honours_fields(i: int, *, decided: dt.date) -> dict[str, str]:
    """One red-list (守信激励) entry of a company."""
    return {
        "XDR_MC": f"守信测试企业{i}有限公司",
        "XDR_LB": "法人及非法人组织",
        "XDR_SHXYM": company_code(100_000 + i),
        "HM_WSH": f"发改财金〔2026〕红{i}号",
        "HM_MDMC": "纳税信用A级纳税人",
        "HM_YJ": "《关于建立完善守信联合激励和失信联合惩戒制度的指导意见》",
        "HM_RDRQ": decided.isoformat(),
        "HM_RDJG": "国家税务总局",
        "HM_RDJGDM": NATIONAL_AUTHORITY,
    }


def disclosed(sd_jwt: str) -> dict[str, object]:
    """The disclosures an SD-JWT carries, name -> value (read, not verified).

    Disclosures are base64url: a value is found only after decoding them.
    """
    parts = sd_jwt.split("~")[1:]
    decoded = [json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts if p]
    return {name: value for _salt, name, value in decoded}


LIST_FILERS = {
    "serious_dishonesty": "public_office",
    "dishonest_debtor": "court",
    "abnormal_operation": "market_regulation",
    "tax_major_violation": "tax",
    "procurement_dishonesty": "procurement",
    "work_safety_dishonesty": "emergency_management",
    "wage_arrears_dishonesty": "human_resources",
    "statistics_dishonesty": "statistics",
    "honours": "public_office",
}
"""Every list of the national catalog, and a department domain that files it."""


def list_entry_fields(category: str, i: int, *, decided: dt.date) -> dict[str, str]:
    """One valid entry of list ``category`` about company ``100_000 + i``, by its own fields."""
    if category == "serious_dishonesty":
        return notice_fields(i, decided=decided)
    if category == "dishonest_debtor":
        return debtor_fields(i, decided=decided)
    subject = {"XDR_MC": f"名单测试企业{i}有限公司", "XDR_SHXYM": company_code(100_000 + i)}
    if category == "abnormal_operation":
        return {
            **subject,
            "LB_WSH": f"湖市监异〔2026〕{i}号",
            "LB_LRYY": "通过登记的住所或者经营场所无法联系",
            "LB_JDRQ": decided.isoformat(),
            "LB_ZCJG": "湖州市市场监督管理局",
            "LB_ZCJGDM": AUTHORITY,
        }
    if category == "honours":
        return {
            **subject,
            "XDR_LB": "法人及非法人组织",
            "HM_WSH": f"湖信〔2026〕{i}号",
            "HM_MDMC": "守合同重信用企业",
            "HM_YJ": "国发〔2016〕33号",
            "HM_RDRQ": decided.isoformat(),
            "HM_RDJG": "湖州市市场监督管理局",
            "HM_RDJGDM": AUTHORITY,
        }
    entry = {
        **subject,
        "LB_WSH": f"{category}〔2026〕{i}号",
        "LB_LRYY": "严重违法失信行为",
        "LB_YJ": "列入依据",
        "LB_JDRQ": decided.isoformat(),
        "LB_RDJG": "认定机关",
        "LB_RDJGDM": AUTHORITY,
    }
    if category != "statistics_dishonesty":  # enterprises only: no subject type field
        entry["XDR_LB"] = "法人及非法人组织"
    return entry
