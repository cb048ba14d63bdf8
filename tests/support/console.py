"""The installed ``hub`` console script (``<venv>/bin/hub``) as an operator runs it:
its environment, and ``hub serve`` in a subprocess on a free port (read from its
ready line)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["HUB", "READY", "Served", "console_env"]

HUB = Path(sys.executable).with_name("hub")
READY = re.compile(r"hub ready: listening on http://127\.0\.0\.1:(\d+) ")


def console_env(tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without HUB_* settings, a data directory under ``tmp``, ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_DATA_DIR"] = str(tmp / "data")
    env.update(extra or {})
    return env


class Served:
    """``hub serve`` (the installed script) in a subprocess; stdout and stderr to files."""

    def __init__(self, tmp: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.out, self.err = tmp / "serve.out", tmp / "serve.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [str(HUB), "serve", "--port", "0", *args],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=console_env(tmp, env),
                cwd=tmp,
            )
        self.port = 0

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = READY.search(self.stderr())
            if found:
                self.port = int(found.group(1))
                return self.port
            assert self.proc.poll() is None, f"exited early:\n{self.stderr()}"
            time.sleep(0.05)
        raise AssertionError(f"no ready line within {timeout}s:\n{self.stderr()}")

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def terminate(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
