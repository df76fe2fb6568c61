"""A credit report's PDF is written with its fonts subset by HarfBuzz.

WeasyPrint falls back to fontTools when Debian's ``libharfbuzz-subset0`` is missing, and
subsetting a Noto CJK font that way takes about 12 s per font (the demo's report took 25 s;
it takes 0.2 s with HarfBuzz). ``scripts/debian_packages.sh`` installs the library.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.commands._report_pdf import render_report_pdf
from tests.support.credit_report import REPORT

DIGEST = "ab" * 32


def test_a_reports_pdf_is_written_without_the_slow_font_subsetter(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="weasyprint")
    out = tmp_path / "report.pdf"
    render_report_pdf(REPORT, DIGEST, out)
    assert out.read_bytes().startswith(b"%PDF-")
    assert [r.getMessage() for r in caplog.records if r.name.startswith("weasyprint")] == []
    if shutil.which("pdftotext") is not None:
        text = subprocess.run(
            ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "湖州测试企业有限公司" in text
        assert DIGEST in text
