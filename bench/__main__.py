"""Run the benchmark scenarios against the hub and/or the reference floor.

    python -m bench [--target hub|floor|both] [--scenarios S1,S2L,...] [--quick]
                    [--out bench/results] [--floor-mode await|write|coalesce]
                    [--cluster-pin shared|spread]

For every scenario a fresh server is started as a subprocess on a free loopback port
(pinned to CPU 0 when the machine has 2+ cores), the load generator runs as its own
process (pinned to CPU 1), and one JSON line is printed on stdout; a progress bar goes
to stderr. S4 / S4-1 (hub only) start their own ``redis-server`` on a free loopback port
and two / one ``hub serve`` processes sharing it through ``HUB_REDIS_URL``; hubs and
redis on CPU 0 (``--cluster-pin spread``: hub i on CPU i), the generator on CPU 1.
The lines are also written to ``<out>/results.jsonl`` and a PNG of the latency
percentiles to ``<out>/latency.png`` (when matplotlib is installed).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import platform
import re
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
# --hub-src: a checkout whose hub/ and channels/ the hub processes import (PYTHONPATH)
HUB_SRC: str | None = None
PROBLEM_WORDS = (" WARNING ", " ERROR ", " CRITICAL ", "Traceback")


def problem_kind(line: str) -> str:
    """A log line without its timestamp, digits → N (to count lines by kind)."""
    for w in PROBLEM_WORDS:
        at = line.find(w)
        if at >= 0:
            line = line[at:]
            break
    return re.sub(r"\d+", "N", line.strip())[:160]


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


def hub_source() -> dict[str, Any]:
    """Which hub code the hub processes run: the checkout and its commit (+ dirty)."""
    src = HUB_SRC or str(Path(__file__).resolve().parents[1])
    info: dict[str, Any] = {"path": src}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        rev = subprocess.run(
            ["git", "-C", src, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        dirty = subprocess.run(
            ["git", "-C", src, "status", "--porcelain", "--", "hub", "channels"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if rev.returncode == 0:
            info["commit"] = rev.stdout.strip()
            info["dirty"] = bool(dirty.stdout.strip())
    return info


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
    # log lines at WARNING or above (and tracebacks): counted, the first few kept
    problems: int = 0
    problem_lines: list[str] = field(default_factory=list)
    problem_kinds: collections.Counter[str] = field(default_factory=collections.Counter)

    def pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if "ready" in line.lower():
                self.ready_line.set()
            if any(w in line for w in PROBLEM_WORDS):
                self.problems += 1
                if len(self.problem_lines) < 5:
                    self.problem_lines.append(line.rstrip()[:300])
                kind = problem_kind(line)
                if kind in self.problem_kinds or len(self.problem_kinds) < 50:
                    self.problem_kinds[kind] += 1

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
        env.update(hub_env(port, tmp.name, secret, secrets.token_hex(24)))
        cmd = [*hub, "serve", "--host", HOST, "--port", str(port)]
    return spawn(Server(target, popen(cmd, env, 0), port, secret, tmp))


def hub_env(port: int, data_dir: str, secret: str, api_key: str) -> dict[str, str]:
    env: dict[str, str] = {}
    if HUB_SRC:
        env["PYTHONPATH"] = os.pathsep.join(
            [HUB_SRC, *([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])]
        )
    return {
        **env,
        "HUB_DATA_DIR": data_dir,
        "HUB_TOKEN_SECRET": secret,
        "HUB_API_KEY": api_key,
        "HUB_NAMESPACES": "bench",
        "HUB_HOST": HOST,
        "HUB_PORT": str(port),
        # one process per hub (with Redis the default is one worker per core)
        "HUB_WORKERS": "1",
    }


def popen(cmd: list[str], env: dict[str, str], cpu_index: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        preexec_fn=pin_to(cpu_index),
    )


def spawn(server: Server, deadline_s: float = 60.0) -> Server:
    """Start pumping the server's output and wait until it is ready (stopped if not)."""
    threading.Thread(target=server.pump, daemon=True).start()
    try:
        server.wait_ready(deadline_s)
    except BaseException:
        server.stop()
        raise
    return server


# -- S4: hubs joined through Redis ------------------------------------------------------


class RedisServer(Server):
    """``redis-server``: ready when it answers PING on its port."""

    def healthy(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False


def redis_available() -> tuple[bool, str]:
    """Whether a ``redis-server`` binary is on PATH (S4 starts its own)."""
    exe = shutil.which("redis-server")
    if exe is None:
        return False, "no `redis-server` on PATH (S4 starts its own on a free loopback port)"
    return True, exe


def affinity(pid: int) -> list[int] | None:
    try:
        return sorted(os.sched_getaffinity(pid))
    except (AttributeError, OSError):
        return None


@dataclass
class Cluster:
    """A redis-server and ``nodes`` hub processes sharing it (HUB_REDIS_URL)."""

    redis: Server | None = None
    hubs: list[Server] = field(default_factory=list)
    secret: str = ""

    def stop(self) -> None:
        # hubs first (so they do not log a lost Redis link), then redis; each one even
        # when another one fails to stop
        for s in [*self.hubs, *([self.redis] if self.redis else [])]:
            with contextlib.suppress(Exception):
                s.stop()

    def pinning(self) -> dict[str, Any]:
        return {
            "hubs": [affinity(h.proc.pid) for h in self.hubs],
            "redis": affinity(self.redis.proc.pid) if self.redis else None,
        }

    def log_problems(self) -> dict[str, Any]:
        return {
            "hub_log_problems": [h.problems for h in self.hubs],
            "hub_log_samples": [ln for h in self.hubs for ln in h.problem_lines][:10],
            "hub_log_kinds": dict(
                sum((h.problem_kinds for h in self.hubs), collections.Counter()).most_common(8)
            ),
            # redis warns about vm.overcommit_memory at start: counted, not quoted
            "redis_log_problems": self.redis.problems if self.redis else None,
        }


def start_cluster(nodes: int, pin: str) -> Cluster:
    """redis-server (CPU 0) + ``nodes`` hubs (CPU 0, or CPU i with pin="spread")."""
    ok, exe = redis_available()
    hub = hub_command()
    if not ok or hub is None:
        raise RuntimeError(exe if not ok else "no `hub` console script found")
    cluster = Cluster(secret=secrets.token_hex(32))
    api_key = secrets.token_hex(24)
    try:
        rport = free_port()
        rtmp = tempfile.TemporaryDirectory(prefix="bench-redis-")
        rcmd = [exe, "--port", str(rport), "--bind", HOST, "--save", "", "--appendonly", "no"]
        rcmd += ["--dir", rtmp.name]
        cluster.redis = spawn(
            RedisServer("redis", popen(rcmd, dict(os.environ), 0), rport, None, rtmp), 30.0
        )
        url = f"redis://{HOST}:{rport}/0"
        for i in range(nodes):
            port = free_port()
            tmp = tempfile.TemporaryDirectory(prefix=f"bench-hub{i}-")
            env = dict(os.environ)
            env.update(hub_env(port, tmp.name, cluster.secret, api_key))
            env.update(HUB_REDIS_URL=url, HUB_NODE_ID=f"bench-{i}")
            cmd = [*hub, "serve", "--host", HOST, "--port", str(port)]
            cpu = i if pin == "spread" else 0
            server = Server("hub", popen(cmd, env, cpu), port, cluster.secret, tmp)
            cluster.hubs.append(spawn(server))
    except BaseException:
        cluster.stop()
        raise
    return cluster


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


def repro(target: str, name: str, quick: bool, floor_mode: str, cluster_pin: str = "shared") -> str:
    cmd = f"python -m bench --target {target} --scenarios {name}"
    if quick:
        cmd += " --quick"
    if target == "floor" and floor_mode != "await":
        cmd += f" --floor-mode {floor_mode}"
    if target == "hub" and name.startswith("S4") and cluster_pin != "shared":
        cmd += f" --cluster-pin {cluster_pin}"
    if target == "hub" and HUB_SRC:
        cmd += f" --hub-src {HUB_SRC}"
    return cmd


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    targets = ["floor", "hub"] if args.target == "both" else [args.target]
    chosen = sc.select(args.scenarios, args.quick)
    info = machine()
    hub_src = hub_source() if "hub" in targets else None
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
            else:
                base["hub_src"] = hub_src
            base["command"] = repro(target, name, args.quick, args.floor_mode, args.cluster_pin)
            if scen["kind"] == "needs":
                line = {**base, "status": "skipped", "needs": sc.NEEDS[name][target]}
            elif target not in scen.get("targets", (target,)):
                line = {**base, "status": "skipped", "needs": sc.NEEDS[scen["group"]][target]}
            elif target == "hub" and not hub_ok:
                line = {**base, "status": "skipped", "needs": f"a runnable `hub serve` ({hub_why})"}
            elif scen.get("redis") and not redis_available()[0]:
                line = {**base, "status": "skipped", "needs": redis_available()[1]}
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
    if scen.get("redis"):
        return run_cluster(scen, args)
    if scen["kind"] == "notice":  # S5: the notice API, through bench.notices
        from bench import notices

        got = asyncio.run(notices.run(scen["recipients"], scen["connected"], scen["notices"]))
        return {**got, "status": "ok" if got.get("audit_ok") else "error"}
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


def run_cluster(scen: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """S4 / S4-1: redis + hubs, subscribers and publishers spread over the hubs."""
    nodes = int(scen.get("nodes", 2))
    try:
        cluster = start_cluster(nodes, args.cluster_pin)
    except (RuntimeError, OSError) as e:
        return {"status": "error", "error": f"cluster did not start: {e}"}
    try:
        assert cluster.redis is not None
        spec = {k: v for k, v in scen.items() if k not in ("group", "targets", "redis")}
        spec.update(
            host=HOST,
            port=cluster.hubs[0].port,
            ports=[h.port for h in cluster.hubs],
            server_pid=cluster.hubs[0].proc.pid,
            server_pids=[h.proc.pid for h in cluster.hubs],
            redis_pid=cluster.redis.proc.pid,
            client=args.client,
            token_secret=cluster.secret,
        )
        pinning = {**cluster.pinning(), "generator": affinity_of_index(1), "mode": args.cluster_pin}
        try:
            result = run_loadgen(spec, progress=not args.no_progress)
        except subprocess.TimeoutExpired:
            result = {"status": "error", "error": "load generator timed out"}
        if result.get("status") == "ok":
            problem = cluster_problem(result, cluster)
            if problem:
                result = {**result, "status": "error", "error": problem}
        return {**result, "nodes": nodes, "pinning": pinning, **cluster.log_problems()}
    finally:
        cluster.stop()


def cluster_problem(result: dict[str, Any], cluster: Cluster) -> str:
    """Why an S4 run that completed must not count as a figure ("" when it may)."""
    dead = [i for i, h in enumerate(cluster.hubs) if h.proc.poll() is not None]
    if dead:
        return f"hub(s) {dead} exited during the run"
    if result.get("connect_failed") or result.get("subscribe_failed"):
        return (
            f"{result.get('connect_failed')} connects / {result.get('subscribe_failed')} "
            f"subscribes failed: {result.get('publish_errors')}"
        )
    if not result.get("deliveries"):
        return f"nothing delivered: {result.get('publish_errors')}"
    return ""


def affinity_of_index(index: int) -> list[int]:
    """The CPU set pin_to(index) gives a child (all CPUs on a 1-CPU machine)."""
    avail = cpus()
    return [avail[index % len(avail)]] if len(avail) >= 2 else avail


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
    ap.add_argument(
        "--cluster-pin",
        choices=("shared", "spread"),
        default="shared",
        help="S4: shared = both hubs and redis on CPU 0 (default); spread = hub i on CPU i "
        "(hub 1 then shares CPU 1 with the generator), redis on CPU 0",
    )
    ap.add_argument(
        "--hub-src",
        default=None,
        help="run the hub from this checkout (e.g. a `git worktree` of a commit: put first on "
        "the hub processes' PYTHONPATH) instead of the installed one",
    )
    ap.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args(argv)
    global HUB_SRC
    HUB_SRC = str(Path(args.hub_src).resolve()) if args.hub_src else None
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
