"""The 双公示 sample files under adapters/samples/ (fixed seed, reproducible).

    python scripts/make_samples.py                        # rewrite the checked-in files
    python scripts/make_samples.py --check                # fail if they differ from a rebuild
    python scripts/make_samples.py --today 2027-03-01 --out DIR   # fresh dates elsewhere

The subjects are fictitious organisations and people of Huzhou (湖州市, region
330500) with valid identifiers: unified social credit codes (GB 32100, with
the GB 11714 organisation code check inside; a few start with a letter) and
citizen numbers (GB 11643). Dates count back from ``today`` (for the
checked-in files :data:`ANCHOR`, the day they were made) so that every record
is in force on that day under the Huzhou catalog: minor penalties within 3
weeks (3-month period), general within 2 months (Huzhou: 6 months), serious
within 10 months (36 months), licences within 10 months (36 months).

The checked-in files are examples to read; as real time passes their minor
penalties go out of force (about 70 days after the anchor). Whatever runs on
the calendar (the demo, the tests) writes its own copy for the day of the run
with :func:`write`, so nothing depends on the date the files were made.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from gateway.core.identifiers import compute_citizen_check, make_uscc

__all__ = ["ANCHOR", "SAMPLES", "SAMPLE_FILES", "build", "write"]

ANCHOR = date(2026, 11, 22)
SEED = 330500
SAMPLES = Path(__file__).resolve().parent / "samples"

PENALTIES = "huzhou_penalties.csv"
LICENCES = "huzhou_licences.csv"
MIXED = "huzhou_mixed.jsonl"
WITH_ERRORS = "huzhou_penalties_with_errors.csv"
SAMPLE_FILES = (PENALTIES, LICENCES, MIXED, WITH_ERRORS)

_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_PERIOD_MONTHS = {"minor": 3, "general": 6, "serious": 36}
# Days back from today of the decision date, per severity (see the module docstring).
_DAYS_BACK = {"minor": (3, 20), "general": (10, 60), "serious": (30, 300)}

PENALTY_COLUMNS = (
    "XDR_MC", "XDR_LB", "XDR_SHXYM", "FRDB", "FR_ZJLX", "FR_ZJHM", "XDR_ZJLX", "XDR_ZJHM",
    "CF_WSH", "CF_WFXW", "CF_YJ", "CF_CFLB", "CF_NR", "CF_NR_FK", "CF_JDRQ", "CF_YXQ",
    "CF_CFJG", "CF_CFJGDM", "CF_SJLY", "CF_SJLYDM", "CF_YZCD", "BZ",
)  # fmt: skip
# The licences file is headed by Chinese labels, as many city exports are.
# Three labels are shared with other categories (数据来源单位 is CF_SJLY for
# penalties, 有效期至 is HM_YXQZ for red lists), so those columns also carry
# their code in brackets, which reads right with any label mapping.
LICENCE_HEADER = {
    "XDR_MC": "行政相对人名称",
    "XDR_LB": "行政相对人类别",
    "XDR_SHXYM": "统一社会信用代码",
    "FRDB": "法定代表人",
    "FR_ZJLX": "法定代表人证件类型",
    "FR_ZJHM": "法定代表人证件号码",
    "XDR_ZJLX": "证件类型",
    "XDR_ZJHM": "证件号码",
    "XK_XKWS": "行政许可决定文书名称",
    "XK_WSH": "行政许可决定文书号",
    "XK_XKLB": "许可类别",
    "XK_XKZS": "许可证书名称",
    "XK_XKBH": "许可编号",
    "XK_NR": "许可内容",
    "XK_JDRQ": "许可决定日期",
    "XK_YXQZ": "有效期自",
    "XK_YXQZI": "有效期至(XK_YXQZI)",
    "XK_XKJG": "许可机关",
    "XK_XKJGDM": "许可机关统一社会信用代码",
    "XK_ZT": "当前状态",
    "XK_LYDW": "数据来源单位(XK_LYDW)",
    "XK_LYDWDM": "数据来源单位统一社会信用代码（XK_LYDWDM）",
    "HZ_SXBM": "政务服务事项编码",
}

DISTRICTS = {
    "330502": "吴兴区",
    "330503": "南浔区",
    "330521": "德清县",
    "330522": "长兴县",
    "330523": "安吉县",
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙朱沈钱姚施蒋潘费闵"
GIVEN = "伟芳敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚英华建国志红文斌晓"
BRANDS = (
    "恒达",
    "绿源",
    "新禾",
    "竹韵",
    "瑞丰",
    "天成",
    "湖滨",
    "太湖",
    "安澜",
    "博远",
    "金鼎",
    "溪山",
)
TRADES = (
    "纺织有限公司",
    "竹木制品有限公司",
    "新材料科技有限公司",
    "建材有限公司",
    "食品有限公司",
    "物流有限公司",
    "化工有限公司",
    "电梯股份有限公司",
    "餐饮管理有限公司",
    "茶业有限公司",
)
SHOPS = ("便利店", "小吃店", "五金店", "汽车修理部", "农家乐")
VILLAGES = ("荻港村", "鲁家村", "余村", "五四村", "丁家坝村")


@dataclass(frozen=True, slots=True)
class Authority:
    """A Huzhou department that decides penalties or licences, with its own code."""

    name: str
    uscc: str


def _authorities() -> dict[str, Authority]:
    # Government bodies register with 机构编制 (authority 1, type 1: 机关).
    bodies = {
        "环境": ("湖州市生态环境局", "00257281"),
        "市监": ("湖州市市场监督管理局", "00257302"),
        "税务": ("国家税务总局湖州市税务局", "00257329"),
        "应急": ("湖州市应急管理局", "00257345"),
        "住建": ("湖州市住房和城乡建设局", "00257361"),
        "交通": ("湖州市交通运输局", "00257388"),
        "水利": ("湖州市水利局", "00257396"),
    }
    return {
        key: Authority(name, make_uscc("11330500", body)) for key, (name, body) in bodies.items()
    }


AUTHORITIES = _authorities()


def make_citizen(rng: random.Random, region: str) -> str:
    """A valid citizen number of someone born 1960-1999 in ``region``."""
    born = date(1960, 1, 1) + timedelta(days=rng.randrange(40 * 365))
    first17 = f"{region}{born:%Y%m%d}{rng.randrange(1, 1000):03d}"
    return first17 + compute_citizen_check(first17)


def make_org_body(rng: random.Random) -> str:
    """An organisation code body: newer codes start MA, older ones are digits."""
    if rng.random() < 0.7:
        return "MA" + "".join(rng.choice(_ALPHABET) for _ in range(6))
    return "".join(rng.choice("0123456789") for _ in range(8))


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


@dataclass(frozen=True, slots=True)
class Subject:
    """Who a record is about: an organisation (USCC) or a natural person (citizen number)."""

    name: str
    kind: str
    identifier: str
    representative: str = ""
    representative_id: str = ""

    @property
    def is_person(self) -> bool:
        return self.kind == "自然人"

    def fields(self) -> dict[str, str]:
        if self.is_person:
            return {
                "XDR_MC": self.name,
                "XDR_LB": self.kind,
                "XDR_ZJLX": "身份证",
                "XDR_ZJHM": self.identifier,
            }
        return {
            "XDR_MC": self.name,
            "XDR_LB": self.kind,
            "XDR_SHXYM": self.identifier,
            "FRDB": self.representative,
            "FR_ZJLX": "身份证",
            "FR_ZJHM": self.representative_id,
        }


def make_subject(rng: random.Random, slot: int, taken: set[str]) -> Subject:
    """One subject; ``slot`` spreads the kinds: people, letter codes, shops, companies."""
    while True:
        region = rng.choice(list(DISTRICTS))
        district = DISTRICTS[region]
        if slot % 8 == 5:
            kind, name = "自然人", person_name(rng)
            subject = Subject(name, kind, make_citizen(rng, region))
        else:
            if slot % 8 == 2:
                # Rural collectives register with agriculture (N2) and others with
                # "other" (Y1): their codes start with a letter.
                kind, prefix = "法人及非法人组织", rng.choice(("N2", "Y1"))
                name = f"{district}{rng.choice(VILLAGES)}股份经济合作社"
            elif slot % 8 == 7:
                kind, prefix = "个体工商户", "92"
                name = f"{district}{person_name(rng)}{rng.choice(SHOPS)}"
            else:
                kind, prefix = "法人及非法人组织", "91"
                city = rng.choice(("湖州", "浙江", district[:2]))
                name = f"{city}{rng.choice(BRANDS)}{rng.choice(TRADES)}"
            uscc = make_uscc(prefix + region, make_org_body(rng))
            subject = Subject(name, kind, uscc, person_name(rng), make_citizen(rng, region))
        if subject.name not in taken:
            taken.add(subject.name)
            return subject


@dataclass(frozen=True, slots=True)
class PenaltyKind:
    authority: str
    prefix: str
    act: str
    facts: str
    basis: str
    fine_wan: tuple[str, str]
    for_people: bool = False


PENALTY_KINDS = (
    PenaltyKind(
        "环境", "湖环罚", "未按规定使用大气污染防治设施",
        "生产车间废气收集处理设施未正常运行，废气无组织排放",
        "《中华人民共和国大气污染防治法》第一百零八条第（一）项", ("2", "20"),
    ),
    PenaltyKind(
        "环境", "湖环罚", "超标排放水污染物",
        "废水总排口化学需氧量浓度超过国家规定的排放标准",
        "《中华人民共和国水污染防治法》第八十三条第（二）项", ("10", "100"),
    ),
    PenaltyKind(
        "环境", "湖环罚", "露天焚烧产生有毒有害烟尘的物质",
        "在居民区附近露天焚烧废旧塑料",
        "《中华人民共和国大气污染防治法》第一百一十九条第二款", ("0.05", "0.2"), True,
    ),
    PenaltyKind(
        "市监", "湖市监处罚", "经营超过保质期的食品",
        "在经营场所货架上陈列销售超过保质期的预包装食品",
        "《中华人民共和国食品安全法》第一百二十四条第一款第（五）项", ("0.5", "5"),
    ),
    PenaltyKind(
        "市监", "湖市监处罚", "发布虚假广告",
        "在网店页面宣传产品具有未经证实的功效",
        "《中华人民共和国广告法》第五十五条第一款", ("1", "20"),
    ),
    PenaltyKind(
        "市监", "湖市监处罚", "未取得营业执照从事经营活动",
        "未依法取得营业执照，擅自在农贸市场从事水产品销售",
        "《无证无照经营查处办法》第十三条", ("0.1", "1"), True,
    ),
    PenaltyKind(
        "税务", "湖税罚", "未按期办理纳税申报",
        "未按照规定期限办理增值税纳税申报和报送纳税资料",
        "《中华人民共和国税收征收管理法》第六十二条", ("0.05", "1"),
    ),
    PenaltyKind(
        "税务", "湖税稽罚", "虚开增值税普通发票",
        "为他人开具与实际经营业务情况不符的增值税普通发票",
        "《中华人民共和国发票管理办法》第三十五条", ("5", "50"),
    ),
    PenaltyKind(
        "应急", "湖应急罚", "未按规定开展安全生产教育和培训",
        "未对从业人员进行安全生产教育和培训并如实记录",
        "《中华人民共和国安全生产法》第九十七条第（三）项", ("1", "10"),
    ),
    PenaltyKind(
        "应急", "湖应急罚", "未及时消除生产安全事故隐患",
        "对检查发现的粉尘涉爆事故隐患未采取措施及时消除",
        "《中华人民共和国安全生产法》第一百零二条", ("5", "10"),
    ),
)  # fmt: skip


def _severity(amount: Decimal, fine_wan: tuple[str, str]) -> str:
    """The heavier the fine within its range, the more serious: about 45/40/15 per cent."""
    low, high = Decimal(fine_wan[0]), Decimal(fine_wan[1])
    share = (amount - low) / (high - low)
    if share < Decimal("0.45"):
        return "minor"
    return "general" if share < Decimal("0.85") else "serious"


def add_months(start: date, months: int) -> date:
    """``start`` plus calendar months, clamped to the month's last day."""
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    for day in (start.day, 30, 29, 28):
        try:
            return date(year, month + 1, day)
        except ValueError:
            continue
    raise AssertionError("every month has a 28th")


def fine(rng: random.Random, low: str, high: str) -> str:
    """A fine in 万元, in whole hundreds of yuan."""
    hundreds = rng.randint(int(Decimal(low) * 100), int(Decimal(high) * 100))
    return format((Decimal(hundreds) / 100).normalize(), "f")


class Documents:
    """Document numbers per prefix and year, increasing, never reused."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._last: dict[tuple[str, int], int] = {}

    def next(self, prefix: str, year: int) -> str:
        key = (prefix, year)
        self._last[key] = self._last.get(key, self._rng.randint(1, 30)) + self._rng.randint(1, 12)
        return f"{prefix}〔{year}〕{self._last[key]}号"


def make_penalty(
    rng: random.Random, subject: Subject, today: date, documents: Documents
) -> dict[str, str]:
    kind = rng.choice([k for k in PENALTY_KINDS if k.for_people == subject.is_person])
    amount = fine(rng, *kind.fine_wan)
    severity = _severity(Decimal(amount), kind.fine_wan)
    decided = today - timedelta(days=rng.randint(*_DAYS_BACK[severity]))
    authority = AUTHORITIES[kind.authority]
    record = {
        **subject.fields(),
        "CF_WSH": documents.next(kind.prefix, decided.year),
        "CF_WFXW": kind.act,
        "CF_YJ": kind.basis,
        "CF_CFLB": "警告;罚款" if severity == "serious" else "罚款",
        "CF_NR": f"经查，当事人{kind.facts}。决定给予罚款人民币{amount}万元的行政处罚。",
        "CF_NR_FK": amount,
        "CF_JDRQ": decided.isoformat(),
        "CF_YXQ": add_months(decided, _PERIOD_MONTHS[severity]).isoformat(),
        "CF_CFJG": authority.name,
        "CF_CFJGDM": authority.uscc,
        "CF_SJLY": authority.name,
        "CF_SJLYDM": authority.uscc,
        "CF_YZCD": severity,
    }
    if severity == "serious":
        record["BZ"] = "已移送信用主管部门认定"
    return record


# (authority, document prefix, certificate, numbering, content, also for natural persons)
LICENCE_KINDS = (
    ("市监", "湖市监许", "食品经营许可证", "JY1",
     "预包装食品（含冷藏冷冻食品）销售；散装食品销售", False),
    ("环境", "湖环许", "排污许可证", "", "大气污染物、水污染物排放", False),
    ("应急", "湖应急许", "危险化学品经营许可证", "浙湖安经",
     "危险化学品经营（不带储存设施）", False),
    ("住建", "湖建许", "建筑施工企业安全生产许可证", "（浙）JZ安许证字", "建筑施工", False),
    ("交通", "湖交许", "道路运输经营许可证", "浙交运管许可湖字", "道路普通货物运输", True),
    ("水利", "湖水许", "取水许可证", "取水（湖）字", "取用地表水，年取水量五万立方米", True),
)  # fmt: skip


def make_licence(
    rng: random.Random, subject: Subject, today: date, documents: Documents
) -> dict[str, str]:
    kinds = [k for k in LICENCE_KINDS if k[5] or not subject.is_person]
    authority_key, prefix, certificate, numbering, content, _ = rng.choice(kinds)
    authority = AUTHORITIES[authority_key]
    decided = today - timedelta(days=rng.randint(5, 300))
    number = f"{numbering}{decided.year}{rng.randrange(10**6):06d}"
    if not numbering:  # 排污许可证 numbers are the holder's code and a serial
        number = f"{subject.identifier}{rng.randint(1, 3):03d}P"
    record = {
        **subject.fields(),
        "XK_XKWS": "准予行政许可决定书",
        "XK_WSH": documents.next(prefix, decided.year),
        "XK_XKLB": rng.choice(("普通", "普通", "核准", "登记")),
        "XK_XKZS": certificate,
        "XK_XKBH": number,
        "XK_NR": content,
        "XK_JDRQ": decided.isoformat(),
        "XK_YXQZ": decided.isoformat(),
        "XK_YXQZI": add_months(decided, 60).isoformat(),
        "XK_XKJG": authority.name,
        "XK_XKJGDM": authority.uscc,
        "XK_ZT": "有效",
        "XK_LYDW": authority.name,
        "XK_LYDWDM": authority.uscc,
    }
    if rng.random() < 0.4:
        record["HZ_SXBM"] = f"33050000{rng.randrange(10**8):08d}"
    return record


def _local_date(rng: random.Random, iso: str) -> str:
    """A date written the ways city exports write it; the CSV reader makes it ISO."""
    day = date.fromisoformat(iso)
    forms: Sequence[Callable[[date], str]] = (
        date.isoformat,
        date.isoformat,
        lambda d: f"{d:%Y/%m/%d}",
        lambda d: f"{d:%Y%m%d}",
        lambda d: f"{d.year}年{d.month}月{d.day}日",
    )
    return rng.choice(forms)(day)


def _csv(header: Sequence[str], columns: Sequence[str], rows: Sequence[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([row.get(code, "") for code in columns] for row in rows)
    return out.getvalue()


def _with_errors(good: list[dict[str, str]], today: date) -> str:
    """A few good penalties, then one row per refusal the demo shows (see the README)."""
    bad_check = dict(good[3])
    code = bad_check["XDR_SHXYM"]
    bad_check["XDR_SHXYM"] = code[:17] + _ALPHABET[(_ALPHABET.index(code[17]) + 1) % 31]
    unknown = dict(good[4], XDR_ZJXY="佛教")
    missing = {k: v for k, v in good[5].items() if k != "CF_WSH"}
    bad_date = dict(good[6], CF_JDRQ=f"{today.year}/02/30")
    rows = [good[0], good[1], good[2], bad_check, unknown, missing, bad_date]
    columns = (*PENALTY_COLUMNS, "XDR_ZJXY")
    text = _csv(columns, columns, rows)
    # One row short of a cell: refused by the reader itself, before the catalog.
    short = _csv(columns, columns[:-1], [good[7]]).split("\r\n", 1)[1]
    return text + short


def build(today: date = ANCHOR) -> dict[str, str]:
    """Every sample file, name -> text, for records in force on ``today``."""
    rng = random.Random(SEED)  # noqa: S311 - a fixed seed is the point: reproducible fictitious data
    taken: set[str] = set()
    subjects = [make_subject(rng, slot, taken) for slot in range(32)]
    documents = Documents(rng)
    penalties = [make_penalty(rng, subjects[i % 24], today, documents) for i in range(40)]
    licences = [make_licence(rng, subjects[(i * 5 + 3) % 32], today, documents) for i in range(30)]
    mixed = [make_penalty(rng, subjects[24 + i], today, documents) for i in range(6)]
    mixed += [make_licence(rng, subjects[28 + i], today, documents) for i in range(4)]
    rng.shuffle(mixed)

    local = [
        {k: _local_date(rng, v) if k in ("CF_JDRQ", "CF_YXQ") else v for k, v in row.items()}
        for row in penalties
    ]
    licence_columns = tuple(LICENCE_HEADER)
    lines = []
    for row in mixed:
        fields: dict[str, str | int | float] = dict(row)
        if "CF_NR_FK" in row:
            # JSON numbers are accepted for amounts; these have at most two
            # decimals, which a float writes back exactly.
            amount = Decimal(row["CF_NR_FK"])
            fields["CF_NR_FK"] = int(amount) if amount == amount.to_integral() else float(amount)
        category = "admin_penalty" if "CF_WSH" in row else "admin_licence"
        document = {"category": category, "fields": fields}
        lines.append(json.dumps(document, ensure_ascii=False) + "\n")
    return {
        PENALTIES: _csv(PENALTY_COLUMNS, PENALTY_COLUMNS, local),
        LICENCES: _csv([LICENCE_HEADER[c] for c in licence_columns], licence_columns, licences),
        MIXED: "".join(lines),
        WITH_ERRORS: _with_errors(local, today),
    }


def write(folder: Path, today: date) -> dict[str, Path]:
    """Write every sample file for records in force on ``today`` into ``folder``.

    Returns:
        File name -> the path written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, text in build(today).items():
        path = folder / name
        path.write_bytes(text.encode("utf-8"))
        written[name] = path
    return written
