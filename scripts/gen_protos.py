"""Generate the checked-in gRPC stubs from protos/, or check that they are fresh.

    python scripts/gen_protos.py           # regenerate gateway/_proto/v1/
    python scripts/gen_protos.py --check   # fail if the checked-in stubs differ

protoc writes imports as ``from gateway.v1 import x_pb2``; the stubs live in
``gateway._proto.v1``, so imports are rewritten to that package. The proto
package stays ``gateway.v1`` on the wire.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT = ROOT / "gateway" / "_proto" / "v1"
IMPORT_RE = re.compile(r"^from gateway\.v1 import", re.MULTILINE)
HEADER = '"""Generated gRPC stubs for gateway.v1; regenerate with scripts/gen_protos.py."""\n'


def generate(into: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    # The mypy-protobuf plugins are console scripts beside this interpreter.
    bindir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    with tempfile.TemporaryDirectory() as tmp:
        argv = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={tmp}",
            f"--mypy_out={tmp}",
            f"--grpc_python_out={tmp}",
            f"--mypy_grpc_out={tmp}",
            *protos,
        ]
        if protoc.main(argv) != 0:
            sys.exit("protoc failed")
        generated = Path(tmp) / "gateway" / "v1"
        into.mkdir(parents=True, exist_ok=True)
        for path in sorted(generated.iterdir()):
            text = IMPORT_RE.sub("from gateway._proto.v1 import", path.read_text(encoding="utf-8"))
            (into / path.name).write_text(text, encoding="utf-8")
        (into / "__init__.py").write_text(HEADER, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if checked-in stubs are stale")
    args = parser.parse_args()
    if not args.check:
        if OUT.exists():
            shutil.rmtree(OUT)
        generate(OUT)
        print(f"wrote {OUT.relative_to(ROOT)}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "v1"
        generate(fresh)
        cmp = filecmp.dircmp(fresh, OUT)
        stale = cmp.left_only + cmp.right_only + cmp.diff_files
        if stale:
            sys.exit(f"generated stubs are stale: {sorted(stale)}; run `make protos`")
    print("generated stubs are fresh")


if __name__ == "__main__":
    main()
