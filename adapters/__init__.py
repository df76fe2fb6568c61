"""Edge connectors that read city platforms' files for intake.

Each reader yields :class:`SourceRecord` or :class:`SourceError` per line,
lazily, and never stops at a bad line; validating records against the catalog
is the core's job (``gateway.core.record_fields``). Sample files for the demo
and tests are packaged in ``adapters/samples`` (see its README).
"""

from __future__ import annotations

from adapters.jsonl import read_jsonl
from adapters.shuanggongshi_csv import (
    CATEGORY_BY_KEY_FIELD,
    DEFAULT_MAX_LINE_BYTES,
    normalise_date,
    read_shuanggongshi_csv,
)
from adapters.source_line import ENCODINGS, Source, SourceError, SourceRecord

__all__ = [
    "CATEGORY_BY_KEY_FIELD",
    "DEFAULT_MAX_LINE_BYTES",
    "ENCODINGS",
    "Source",
    "SourceError",
    "SourceRecord",
    "normalise_date",
    "read_jsonl",
    "read_shuanggongshi_csv",
]
