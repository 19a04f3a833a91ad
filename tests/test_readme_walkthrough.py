"""The README's walkthrough, pasted into a shell as a reader would: it runs top to bottom on a
fresh embedded server, and again on the data the first run left (design: docs that cannot rot)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

from tests.support.smtp_sink import free_port

ROOT = Path(__file__).resolve().parent.parent
# Installing is a no-op here (the suite's .venv is up to date); starting and 25 requests take seconds.
RUN_SECONDS = 300


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Walkthrough with curl") :]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def paste(block: str, port: int, data: Path) -> subprocess.CompletedProcess:
    """Runs the block as `bash -e` (any failed step fails the run), then stops the server it
    started in the background (the whole process group: make and the server under it)."""
    env = {**os.environ, "PORT": str(port), "DATA": str(data)}
    env.pop("EOSC_PERF_ENV", None)
    shell = subprocess.Popen(
        ["bash", "-e", "-o", "pipefail", "-c", block],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = shell.communicate(timeout=RUN_SECONDS)
    finally:
        os.killpg(shell.pid, signal.SIGTERM)
    return subprocess.CompletedProcess(shell.args, shell.returncode, stdout, stderr)


def test_the_walkthrough_runs_on_a_fresh_server_and_again_on_its_data(tmp_path):
    block = walkthrough()
    data = tmp_path / "data"
    for attempt in ("fresh", "again"):
        done = paste(block, free_port(), data)
        assert done.returncode == 0, f"{attempt}: {done.stderr[-3000:]}"
        out = done.stdout
        assert '"total":2' in out and '"total":3' in out, out[-2000:]  # the filters, the claim, the review
        assert '"message":"the score looks too high"' in out
        assert "Result.Claimed  by bob@" in out and "Result.Restored  by alice@" in out
        assert '"type":"Site.Updated"' in out
    assert (data / "events.sqlite").exists()
