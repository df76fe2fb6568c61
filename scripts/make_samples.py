"""Write, or check, the 双公示 sample files under adapters/samples/.

    python scripts/make_samples.py                        # rewrite the checked-in files
    python scripts/make_samples.py --check                # fail if they differ from a rebuild
    python scripts/make_samples.py --today 2027-03-01 --out DIR   # fresh dates elsewhere

The generator is :mod:`adapters.sample_files`; the demo and the tests use it
too, writing their own copy for the day of the run.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from adapters.sample_files import ANCHOR, SAMPLES, build


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--today", type=date.fromisoformat, default=ANCHOR, help="YYYY-MM-DD")
    parser.add_argument("--out", type=Path, default=SAMPLES, help="folder to write")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    stale: list[str] = []
    for name, text in build(args.today).items():
        path = args.out / name
        data = text.encode("utf-8")
        if args.check:
            if not path.is_file() or path.read_bytes() != data:
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {path}")
    if stale:
        print(f"stale: {', '.join(stale)}; run scripts/make_samples.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
