"""``hub serve --workers N``: the supervisor, with stand-in workers and with real ones.

The stand-in tests drive :class:`hub.supervisor.Supervisor` with a tiny worker
script (ready, crash, configuration error) so its rules are checked without
Redis. The real tests start ``redis-server`` on a free port and
``python -m channels.cli serve --workers 2``; they need the Redis broker
(``hub.brokers.redis``) and are skipped until it is there.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from hub import supervisor
from tests.support.hubs import HubProcess, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]

# -- the refusal -------------------------------------------------------------


def test_workers_need_redis(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.run(
        [sys.executable, "-m", "channels.cli", "serve", "--workers", "2", "--port", "0"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert "--workers 2" in proc.stderr and "needs HUB_REDIS_URL" in proc.stderr
    assert "hub ready" not in proc.stderr


def test_entry_command_reruns_the_same_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "orig_argv", ["python3", "-X", "dev", "-m", "channels.cli", "serve"])
    monkeypatch.setattr(sys, "argv", [str(ROOT / "channels" / "cli.py"), "serve"])
    assert supervisor.entry_command() == [sys.executable, "-X", "dev", "-m", "channels.cli"]
    monkeypatch.setattr(
        sys, "orig_argv", ["/v/bin/python", "/v/bin/hub", "serve", "--workers", "2"]
    )
    monkeypatch.setattr(sys, "argv", ["/v/bin/hub", "serve", "--workers", "2"])
    assert supervisor.entry_command() == [sys.executable, "/v/bin/hub"]


# -- stand-in workers ----------------------------------------------------------

FAKE_WORKER = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path

    node = sys.argv[sys.argv.index("--node-id") + 1]
    state = Path(os.environ["FAKE_DIR"])
    mode = os.environ.get("FAKE_MODE", "ok")
    (state / f"{node}.pid").write_text(str(os.getpid()))
    print(f"starting {node}", flush=True)
    if mode == "crash":
        sys.exit(1)
    if mode == "config":
        print("hub: configuration error: nope", file=sys.stderr, flush=True)
        sys.exit(2)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while node.endswith("-w1") and not (state / "go").exists():
        time.sleep(0.01)
    print(f"INFO hub: hub ready: listening, node {node}", flush=True)
    while not stop:
        time.sleep(0.01)
    print(f"{node} drained", flush=True)
    """
)

DRIVER = textwrap.dedent(
    """
    import asyncio, sys
    from hub.cli import setup_logging
    from hub.config import load_settings
    from hub.supervisor import Supervisor

    setup_logging("INFO")
    settings = load_settings(None, {
        "HUB_WORKERS": "2", "HUB_REDIS_URL": "redis://unused", "HUB_PORT": sys.argv[1],
        "HUB_DATA_DIR": sys.argv[2], "HUB_NODE_ID": "t",
    })
    sup = Supervisor(settings, [sys.executable, sys.argv[3]], crash_limit=3,
                     crash_window=30.0, backoff_initial=0.05, stop_timeout=20.0)
    sys.exit(asyncio.run(sup.run()))
    """
)


class FakeHub:
    def __init__(self, tmp: Path, mode: str = "ok") -> None:
        self.dir = tmp / "state"
        self.dir.mkdir()
        (tmp / "worker.py").write_text(FAKE_WORKER)
        (tmp / "driver.py").write_text(DRIVER)
        self.log_path = tmp / "supervisor.log"
        env = dict(os.environ, FAKE_DIR=str(self.dir), FAKE_MODE=mode, PYTHONPATH=str(ROOT))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(tmp / "driver.py"),
                    str(free_port()),
                    str(tmp / "data"),
                    str(tmp / "worker.py"),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pid(self, node: str) -> int | None:
        path = self.dir / f"{node}.pid"
        return int(path.read_text()) if path.exists() and path.read_text() else None

    def wait(self, timeout: float = 20.0) -> int:
        return self.proc.wait(timeout)


@pytest.fixture
def fake_hubs(tmp_path: Path) -> Iterator[list[FakeHub]]:
    hubs: list[FakeHub] = []
    yield hubs
    for h in hubs:
        if h.proc.poll() is None:
            h.proc.kill()
            h.proc.wait()
    for h in hubs:  # workers die with the supervisor (PR_SET_PDEATHSIG)
        for pid_file in h.dir.glob("*.pid"):
            pid = int(pid_file.read_text() or 0)
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive: the supervisor reaps its children
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


async def test_ready_line_waits_for_all_workers_restart_and_drain(
    tmp_path: Path, fake_hubs: list[FakeHub]
) -> None:
    hub = FakeHub(tmp_path)
    fake_hubs.append(hub)
    await wait_until(lambda: hub.pid("t-w0") and hub.pid("t-w1"), 10, what="both workers")
    await wait_until(lambda: "[w1] starting t-w1" in hub.log(), 10, what="w1's output")
    # w0 is ready, w1 is not: nobody may say "hub ready" yet.
    assert "hub ready" not in hub.log()
    (hub.dir / "go").touch()
    await wait_until(lambda: "all 2 workers" in hub.log(), 10, what="the supervisor's ready line")
    text = hub.log()
    first = text.index("hub ready")
    assert "hub ready: all 2 workers" in text[first : first + 40]
    assert "[w0] INFO hub: hub ready" in text and "[w1] INFO hub: hub ready" in text

    old = hub.pid("t-w0")
    assert old is not None
    os.kill(old, signal.SIGKILL)
    await wait_until(lambda: _alive(hub.pid("t-w0r1")), 10, what="w0 restarted as t-w0r1")
    await wait_until(lambda: "worker w0 is back" in hub.log(), 10, what="w0 ready again")
    assert "killed by SIGKILL unexpectedly" in hub.log()

    hub.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(hub.wait) == 0, hub.log()
    text = hub.log()
    assert "[w0] t-w0r1 drained" in text and "[w1] t-w1 drained" in text
    assert "all 2 workers stopped cleanly" in text
    assert not _alive(hub.pid("t-w0r1")) and not _alive(hub.pid("t-w1"))


async def test_crash_loop_gives_up(tmp_path: Path, fake_hubs: list[FakeHub]) -> None:
    hub = FakeHub(tmp_path, mode="crash")
    fake_hubs.append(hub)
    assert await asyncio.to_thread(hub.wait) == 1
    text = hub.log()
    assert re.search(r"giving up: worker w\d failed 3 times within 30 s \(crash loop\)", text)
    assert "hub ready" not in text


async def test_configuration_error_is_not_retried(tmp_path: Path, fake_hubs: list[FakeHub]) -> None:
    hub = FakeHub(tmp_path, mode="config")
    fake_hubs.append(hub)
    assert await asyncio.to_thread(hub.wait) == 1
    text = hub.log()
    assert "exited with status 2 (configuration error)" in text
    assert "configuration error: nope" in text
    assert "restarting" not in text


# -- real workers through Redis ---------------------------------------------------

needs_redis_broker = pytest.mark.skipif(
    importlib.util.find_spec("hub.brokers.redis") is None,
    reason="Redis broker (hub.brokers.redis) not yet available",
)
needs_redis_server = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="redis-server is not installed (deploy/scripts/system-deps.sh installs it)",
)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    rdir = tmp_path / "redis"
    rdir.mkdir()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(rdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.02)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def workers_hub(tmp_path: Path, redis_url: str) -> Iterator[HubProcess]:
    hub = HubProcess(
        tmp_path / "data",
        env={"HUB_REDIS_URL": redis_url, "HUB_NODE_ID": "sup"},
        args=["--workers", "2"],
    )
    hub.start(timeout=30)
    assert "hub ready: all 2 workers" in hub.log()
    yield hub
    if hub.proc is not None and hub.proc.poll() is None:
        hub.kill()


async def _client_id(hub: HubProcess, member: str) -> str | None:
    try:
        async with websockets.connect(hub.ws_url, open_timeout=5) as ws:
            await ws.send(json.dumps({"id": 1, "op": "connect", "token": hub.token(member)}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
    except (OSError, websockets.WebSocketException, TimeoutError):
        return None  # a worker that just died; try again
    assert reply["ok"], reply
    client: str = reply["client"]
    return client


def _node(client_id: str) -> str:
    return client_id.rsplit(".", 1)[0]


async def _nodes_seen(hub: HubProcess, want: set[str], timeout: float = 15.0) -> set[str]:
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while not want <= seen:
        assert time.monotonic() < deadline, f"saw only {seen}, wanted {want}\n{hub.log()}"
        client = await _client_id(hub, "m1")
        if client is not None:
            seen.add(_node(client))
    return seen


def _worker_pid(hub: HubProcess, label: str, node: str) -> int | None:
    m = re.search(rf"worker {label} started: pid (\d+), node {re.escape(node)}\n", hub.log())
    return int(m.group(1)) if m else None


@needs_redis_server
@needs_redis_broker
async def test_two_workers_share_the_port_and_a_killed_one_is_restarted(
    workers_hub: HubProcess,
) -> None:
    hub = workers_hub
    assert await _nodes_seen(hub, {"sup-w0", "sup-w1"}) == {"sup-w0", "sup-w1"}
    pid = _worker_pid(hub, "w0", "sup-w0")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await wait_until(
        lambda: _worker_pid(hub, "w0", "sup-w0r1"), 15, what="w0 restarted as sup-w0r1"
    )
    await wait_until(lambda: "worker w0 is back" in hub.log(), 15, what="the new w0 ready")
    seen = await _nodes_seen(hub, {"sup-w0r1", "sup-w1"})
    assert "sup-w0" not in seen
    assert hub.proc is not None and hub.proc.poll() is None


@needs_redis_server
@needs_redis_broker
async def test_sigterm_drains_every_worker_with_4012(workers_hub: HubProcess) -> None:
    hub = workers_hub
    clients: dict[str, websockets.ClientConnection] = {}
    deadline = time.monotonic() + 15
    while len(clients) < 2:
        assert time.monotonic() < deadline, hub.log()
        ws = await websockets.connect(hub.ws_url, open_timeout=5)
        await ws.send(json.dumps({"id": 1, "op": "connect", "token": hub.token("m1")}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        node = _node(reply["client"])
        if node in clients:
            await ws.close()
        else:
            clients[node] = ws
    assert hub.proc is not None
    hub.proc.send_signal(signal.SIGTERM)
    for node, ws in clients.items():
        push = None
        while push is None or push.get("push") != "disconnect":
            push = json.loads(await asyncio.wait_for(ws.recv(), 15))
        assert push["code"] == 4012 and push["reconnect"] is True, (node, push)
        await ws.close()
    status = await wait_until(lambda: hub.proc is not None and hub.proc.poll() is not None, 30)
    assert status and hub.proc.returncode == 0, hub.log()
    assert "all 2 workers stopped cleanly" in hub.log()
