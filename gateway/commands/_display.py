"""Values a command did not write itself, made safe to show.

A record field, a purpose, a case id, a refusal reason: anything that came
from a file, a client or another node may be hostile, and the commands print
it to an auditor's terminal or into a spreadsheet. Two outputs, two rules:

- **Terminal**: a value becomes a rich :class:`~rich.text.Text`, which rich
  never reads as markup (``[/]`` is not a closing tag, ``[link=...]`` is not a
  link), and every character that would steer the terminal instead of being
  shown, C0 and C1 controls (ESC among them), DEL, bidirectional overrides and
  the Unicode line and paragraph separators, is shown as its escape
  (``\\x1b``, ``\\u202e``).
- **CSV**: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return gets a leading ``'``, the OWASP rule against CSV injection,
  so that a spreadsheet shows it as text instead of running it as a formula.
  Nothing else changes.

JSON output (``emit_json``) stays exact: it is for programs, and JSON already
escapes every control character below U+0020.
"""

from __future__ import annotations

import re

from rich.text import Text

__all__ = ["csv_cell", "terminal_text"]

# C0, DEL, C1; ALM, LRM, RLM; LRE..RLO; LRI..PDI; line and paragraph separators.
_STEERING = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(value: object, style: str = "") -> Text:
    """``value`` as text for the terminal: never markup, no steering characters."""
    return Text(_STEERING.sub(_escape, str(value)), style=style)


def csv_cell(value: object) -> str:
    """``value`` as a CSV cell that no spreadsheet runs as a formula."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
