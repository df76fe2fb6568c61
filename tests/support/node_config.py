"""Edit a node's TOML config file in tests: set keys of a section, keeping the rest."""

from __future__ import annotations

import json
import re
from pathlib import Path

__all__ = ["set_config_keys"]


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(str(value))


def set_config_keys(path: Path, section: str, **values: object) -> None:
    """Set ``values`` in ``[section]`` of ``path``: replace keys present, add the others."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = f"[{section}]"
    if header not in lines:
        lines += ["", header]
    start = lines.index(header) + 1
    end = next((i for i in range(start, len(lines)) if re.match(r"\s*\[", lines[i])), len(lines))
    pending = dict(values)
    for i in range(start, end):
        key = lines[i].split("=", 1)[0].strip()
        if key in pending:
            lines[i] = f"{key} = {_toml_value(pending.pop(key))}"
    lines[end:end] = [f"{key} = {_toml_value(value)}" for key, value in pending.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
