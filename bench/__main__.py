"""Run the benchmark scenarios against the hub and/or the reference floor.

    python -m bench [--target hub|floor|both] [--scenarios S1,S2L,...] [--quick]
                    [--out bench/results] [--floor-mode await|write|coalesce]

For every scenario a fresh server is started as a subprocess on a free loopback port
(pinned to CPU 0 when the machine has 2+ cores), the load generator runs as its own
process (pinned to CPU 1), and one JSON line is printed on stdout; a progress bar goes
to stderr. The lines are also written to ``<out>/results.jsonl`` and a PNG of the
latency percentiles to ``<out>/latency.png`` (when matplotlib is installed).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench import scenarios as sc
from bench.floor import raise_nofile_limit

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def pin_to(index: int) -> Any:
    """A preexec_fn pinning the child to the index-th CPU we may use (2+ CPUs only)."""
    avail = cpus()

    def pre() -> None:
        raise_nofile_limit()
        if len(avail) >= 2:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, {avail[index % len(avail)]})

    return pre


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def hub_command() -> list[str] | None:
    exe = Path(sys.executable).parent / "hub"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("hub")
    return [found] if found else None


def hub_available() -> tuple[bool, str]:
    """Whether ``hub serve`` exists here (``hub serve --help`` exits 0)."""
    cmd = hub_command()
    if cmd is None:
        return False, "no `hub` console script"
    try:
        p = subprocess.run(
            [*cmd, "serve", "--help"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"`hub serve --help` failed: {e}"
    if p.returncode != 0:
        last = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["?"]
        return False, f"`hub serve --help` exited {p.returncode}: {last[0]}"
    return True, ""


@dataclass
class Server:
    target: str
    proc: subprocess.Popen[str]
    port: int
    token_secret: str | None = None
    tmpdir: tempfile.TemporaryDirectory[str] | None = None
    lines: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=50))
    ready_line: threading.Event = field(default_factory=threading.Event)

    def pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if "ready" in line.lower():
                self.ready_line.set()

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.port}/healthz", timeout=2) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def wait_ready(self, deadline_s: float) -> None:
        t0 = time.monotonic()
        healthy_since: float | None = None
        while time.monotonic() - t0 < deadline_s:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.target} exited with {self.proc.returncode}: "
                    + " | ".join(list(self.lines)[-5:])
                )
            if self.healthy():
                if self.ready_line.is_set():
                    return
                healthy_since = healthy_since or time.monotonic()
                if time.monotonic() - healthy_since > 3.0:
                    return  # /healthz answers; the "ready" line is only a courtesy
            time.sleep(0.05)
        raise RuntimeError(
            f"{self.target} not ready within {deadline_s:.0f} s: "
            + " | ".join(list(self.lines)[-5:])
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.tmpdir is not None:
            self.tmpdir.cleanup()


def start_target(target: str, floor_mode: str) -> Server:
    port = free_port()
    env = dict(os.environ)
    secret: str | None = None
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if target == "floor":
        cmd = [
            sys.executable,
            "-m",
            "bench.floor",
            "--host",
            HOST,
            "--port",
            str(port),
            "--mode",
            floor_mode,
        ]
    else:
        hub = hub_command()
        if hub is None:
            raise RuntimeError("no `hub` console script found")
        tmp = tempfile.TemporaryDirectory(prefix="bench-hub-")
        secret = secrets.token_hex(32)
        env.update(
            HUB_DATA_DIR=tmp.name,
            HUB_TOKEN_SECRET=secret,
            HUB_API_KEY=secrets.token_hex(24),
            HUB_NAMESPACES="bench",
            HUB_HOST=HOST,
            HUB_PORT=str(port),
        )
        cmd = [*hub, "serve", "--host", HOST, "--port", str(port)]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        preexec_fn=pin_to(0),
    )
    server = Server(target, proc, port, secret, tmp)
    threading.Thread(target=server.pump, daemon=True).start()
    try:
        server.wait_ready(60.0)
    except BaseException:
        server.stop()
        raise
    return server


def run_loadgen(spec: dict[str, Any], progress: bool) -> dict[str, Any]:
    spec = {**spec, "progress": progress}
    budget = (
        float(spec.get("warmup_s", 0))
        + float(spec.get("duration_s", 0))
        + float(spec.get("drain_s", 0))
        + float(spec.get("connect_timeout_s", 120))
        + 120.0
    )
    p = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", "--spec", orjson.dumps(spec).decode()],
        stdout=subprocess.PIPE,
        stderr=None if progress else subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=budget,
        preexec_fn=pin_to(1),
        check=False,
    )
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr or "")[-500:] if not progress else ""
        return {"status": "error", "error": f"loadgen exited {p.returncode} {tail}".strip()}
    result: dict[str, Any] = orjson.loads(lines[-1])
    return result


def repro(target: str, name: str, quick: bool, floor_mode: str) -> str:
    cmd = f"python -m bench --target {target} --scenarios {name}"
    if quick:
        cmd += " --quick"
    if target == "floor" and floor_mode != "await":
        cmd += f" --floor-mode {floor_mode}"
    return cmd


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    targets = ["floor", "hub"] if args.target == "both" else [args.target]
    chosen = sc.select(args.scenarios, args.quick)
    info = machine()
    results: list[dict[str, Any]] = []
    hub_ok, hub_why = (True, "") if "hub" not in targets else hub_available()
    for target in targets:
        for scen in chosen:
            name = scen["name"]
            base: dict[str, Any] = {
                "scenario": name,
                "target": target,
                "quick": args.quick,
            }
            if target == "floor":
                base["floor_mode"] = args.floor_mode
            base["command"] = repro(target, name, args.quick, args.floor_mode)
            if scen["kind"] == "needs":
                line = {**base, "status": "skipped", "needs": sc.NEEDS[name][target]}
            elif target == "hub" and not hub_ok:
                line = {**base, "status": "skipped", "needs": f"a runnable `hub serve` ({hub_why})"}
            else:
                line = {**base, **run_one(target, scen, args)}
                line["scenario"] = name
            line["machine"] = info
            line["ts"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            sys.stdout.write(orjson.dumps(line).decode() + "\n")
            sys.stdout.flush()
            results.append(line)
    return results


def run_one(target: str, scen: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    try:
        server = start_target(target, args.floor_mode)
    except (RuntimeError, OSError) as e:
        return {"status": "error", "error": f"server did not start: {e}"}
    try:
        spec = {k: v for k, v in scen.items() if k != "group"}
        spec.update(host=HOST, port=server.port, server_pid=server.proc.pid, client=args.client)
        if server.token_secret:
            spec["token_secret"] = server.token_secret
        try:
            return run_loadgen(spec, progress=not args.no_progress)
        except subprocess.TimeoutExpired:
            return {"status": "error", "error": "load generator timed out"}
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    ap.add_argument("--target", choices=("hub", "floor", "both"), default="both")
    ap.add_argument("--scenarios", default=None, help="comma-separated names or groups")
    ap.add_argument("--quick", action="store_true", help="tiny versions (smoke test)")
    ap.add_argument("--out", default="bench/results", help="directory for JSON lines + PNG")
    ap.add_argument(
        "--floor-mode",
        choices=("await", "write", "coalesce"),
        default="await",
        help="floor broadcast technique (default: await = issue 7's reference floor)",
    )
    ap.add_argument(
        "--client",
        choices=("lean", "websockets"),
        default="lean",
        help="subscriber client in the generator (websockets: to measure its cost)",
    )
    ap.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args(argv)
    raise_nofile_limit()
    results = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.jsonl").write_text("".join(orjson.dumps(r).decode() + "\n" for r in results))
    if not args.no_plot:
        from bench.plot import plot_latency

        msg = plot_latency(results, out / "latency.png")
        print(msg, file=sys.stderr)
    bad = [r for r in results if r.get("status") == "error"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
