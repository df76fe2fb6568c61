"""A credit report with one list entry and one objection, in Chinese, for the tests."""

from __future__ import annotations

import time

from gateway.core.credit_report import (
    CreditReport,
    ReportEntry,
    ReportMeasure,
    ReportProcedure,
)

HUZHOU = "330500"
# Inside the validity of the keystore's certificates, which are issued as the tests start.
NOW = int(time.time())

REPORT = CreditReport(
    report_id="0" * 32,
    node=HUZHOU,
    generated_at=NOW,
    requested_by="department:330500/tax-office",
    domain="tax",
    purpose="审批前核查",
    subject_type="legal_person",
    subject="91330500MA2B3C4D5E",
    names=("湖州测试企业有限公司",),
    lists=(
        ReportEntry(
            record_id="330500-" + "a" * 32,
            version=1,
            issuer=HUZHOU,
            category="dishonest_debtor",
            label="失信被执行人",
            status="active",
            issued_at=NOW - 100,
            expires_at=NOW + 100_000,
            fields={"XDR_MC": "湖州测试企业有限公司", "FR_ZJHM#masked": "3305**********1234"},
            measures=(
                ReportMeasure(
                    "M-PROC-01", "限制参加政府采购活动", "prohibit", ("procurement",), "x"
                ),
            ),
        ),
    ),
    records=(),
    procedures=(ReportProcedure("objection", "o1", "330500-" + "a" * 32, "filed", NOW - 50, None),),
)
