"""The test support's way of running a command: nothing it started outlives it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.federation import run_in_own_session
from tests.support.processes import process_running

# A parent that starts a child which would sleep for a minute, writes the child's pid,
# then waits for it: like `gateway demo` waiting on the nodes it started.
_PARENT = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open(sys.argv[1], "w").write(str(child.pid))
child.wait()
"""


def test_a_command_past_its_timeout_is_killed_with_every_process_it_started(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "child.pid"
    with pytest.raises(subprocess.TimeoutExpired):
        run_in_own_session([sys.executable, "-c", _PARENT, str(pid_file)], timeout_s=3.0)
    child = int(pid_file.read_text())
    for _ in range(100):  # reaped by init once its group is killed
        if not process_running(child):
            break
        time.sleep(0.05)
    assert not process_running(child)


def test_a_command_that_ends_gives_its_exit_code_and_output(tmp_path: Path) -> None:
    script = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    result = run_in_own_session([sys.executable, "-c", script], timeout_s=30.0, cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
