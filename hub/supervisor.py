"""``hub serve --workers N``: one supervisor process and N worker processes.

Each worker is a normal single ``hub serve`` process, started with the same
command line as the supervisor (the same console entry, so the composition root
loads the same extensions in every worker — the engine never imports them), plus
``--node-id <base>-w<i>`` and ``--port P``; ``<base>`` is ``HUB_NODE_ID``, by
default ``<host>-<pid><random>`` (unique per supervisor, also on one host).
Workers see ``workers > 1`` and bind with ``SO_REUSEPORT``, so the kernel spreads
new connections over them. They share state only through Redis (and the
database), hence N > 1 needs
``HUB_REDIS_URL``: the embedded in-process broker cannot be shared.

The supervisor:

- forwards every line a worker writes to its own standard error, prefixed
  ``[w<i>]``; it logs one ``hub ready: all N workers …`` line once every worker is
  ready (the workers' own ready lines are held back until then, so that the first
  "hub ready" in the log means the whole hub is ready);
- restarts a worker that exits while the hub is not stopping, after a capped
  exponential backoff, under a new node id (``<base>-w<i>r<k>``) so its client
  ids never collide with those the dead worker left in Redis presence; it gives
  up (stops the others, exit status 1) when one worker fails ``crash_limit``
  times within ``crash_window`` seconds, or exits with status 2 (configuration
  error) before it was ever ready;
- on SIGTERM or SIGINT sends SIGTERM to every worker (each drains: close code
  4012 to its clients, store flushed) and exits 0 once all have exited cleanly,
  1 otherwise (or after ``stop_timeout`` seconds, when the rest get SIGKILL).

Workers ask the kernel for SIGTERM when the supervisor dies (Linux
``PR_SET_PDEATHSIG``), so a supervisor killed with SIGKILL does not leave
orphans holding the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, TextIO

from hub.auth import dev_secret
from hub.config import ConfigError, Settings
from hub.core.node import default_node_id

__all__ = [
    "SUPERVISOR_PID_ENV",
    "WORKER_INDEX_ENV",
    "Supervisor",
    "check_workers",
    "entry_command",
    "is_worker",
    "supervise",
    "worker_setup",
]

log = logging.getLogger("hub.supervisor")

#: Set by the supervisor in each worker's environment; not a setting.
WORKER_INDEX_ENV: Final = "_HUB_WORKER_INDEX"
SUPERVISOR_PID_ENV: Final = "_HUB_SUPERVISOR_PID"

_READY_MARK: Final = "hub ready"
_PR_SET_PDEATHSIG: Final = 1
_LINE_LIMIT: Final = 1 << 20


def is_worker(env: Mapping[str, str] | None = None) -> bool:
    """True in a process started by a supervisor as one of its workers."""
    return WORKER_INDEX_ENV in (os.environ if env is None else env)


def check_workers(settings: Settings) -> None:
    """Refuse settings a supervisor cannot run (raises :class:`ConfigError`)."""
    if settings.workers > 1 and not settings.redis_url:
        raise ConfigError(
            f"--workers {settings.workers} (HUB_WORKERS) needs HUB_REDIS_URL: worker processes "
            "share channels, offsets and presence through Redis; the embedded in-process "
            "broker cannot be shared between processes. Set HUB_REDIS_URL=redis://… or run "
            "one process (--workers 1)."
        )


def entry_command() -> list[str]:
    """The command that started this process, without its arguments.

    ``hub serve …`` gives ``[python, /path/bin/hub]``; ``python -m channels.cli
    serve …`` gives ``[python, -m, channels.cli]``: the same console entry (the
    composition root) is run again for each worker.
    """
    orig = list(sys.orig_argv)
    n_args = len(sys.argv) - 1
    prefix = orig[: len(orig) - n_args] if n_args > 0 else orig
    if sys.executable:
        prefix[0] = sys.executable
    return prefix


def worker_setup(env: Mapping[str, str] | None = None) -> None:
    """In a worker: die with the supervisor (SIGTERM, so the worker still drains)."""
    env = os.environ if env is None else env
    if not is_worker(env) or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - best effort
        return
    parent = env.get(SUPERVISOR_PID_ENV, "")
    if parent.isascii() and parent.isdigit() and os.getppid() != int(parent):
        # The supervisor died before prctl took effect.
        os.kill(os.getpid(), signal.SIGTERM)


def supervise(settings: Settings, argv: Sequence[str] | None = None) -> int:
    """Run ``settings.workers`` workers until SIGTERM/SIGINT; the exit status of the hub.

    ``argv`` is the worker command line up to and including its arguments (default:
    this process's own command line, see :func:`entry_command`).
    """
    check_workers(settings)
    if argv is None:
        argv = [*entry_command(), *sys.argv[1:]]
    return asyncio.run(Supervisor(settings, argv).run())


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _describe(status: int) -> str:
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exited with status {status}"


@dataclass
class _Worker:
    index: int
    proc: asyncio.subprocess.Process | None = None
    node_id: str = ""
    generation: int = 0
    ready: bool = False
    ever_ready: bool = False
    crashes: deque[float] = field(default_factory=deque)

    @property
    def label(self) -> str:
        return f"w{self.index}"


class Supervisor:
    """Starts, watches, restarts and drains the worker processes of one hub."""

    def __init__(
        self,
        settings: Settings,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        out: TextIO | None = None,
        crash_limit: int = 5,
        crash_window: float = 60.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        stop_timeout: float = 60.0,
    ) -> None:
        check_workers(settings)
        self.settings = settings
        self.argv = list(argv)
        self.env = dict(os.environ if env is None else env)
        self.out = out
        self.crash_limit = crash_limit
        self.crash_window = crash_window
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stop_timeout = stop_timeout
        # workers are <base>-w<i>: the base must differ between two supervisors on one
        # host (two units, two containers with host networking)
        self.base_id = settings.node_id or default_node_id()
        self.port = settings.port
        self.workers = [_Worker(i) for i in range(settings.workers)]
        self.all_ready = False
        self._held: list[str] = []
        self._stopping: asyncio.Event | None = None
        self._failure: str | None = None

    # -- output ------------------------------------------------------------
    def _write(self, text: str) -> None:
        out = self.out if self.out is not None else sys.stderr
        try:
            out.write(text)
            out.flush()
        except (OSError, ValueError):  # pragma: no cover - our stderr is gone
            pass

    def _forward(self, w: _Worker, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        line = f"[{w.label}] {text}\n"
        if _READY_MARK in text:
            w.ready = w.ever_ready = True
            if not self.all_ready:
                self._held.append(line)
                self._check_all_ready()
                return
            log.info("worker %s is back (pid %s, node %s)", w.label, self._pid(w), w.node_id)
        self._write(line)

    def _check_all_ready(self) -> None:
        if self.all_ready or not all(w.ready for w in self.workers):
            return
        self.all_ready = True
        host = self.settings.host
        host_url = f"[{host}]" if ":" in host else host
        log.info(
            "hub ready: all %d workers listening on http://%s:%d (WebSocket ws://%s:%d/ws), "
            "nodes %s; supervisor pid %d",
            len(self.workers),
            host_url,
            self.port,
            host_url,
            self.port,
            ", ".join(w.node_id for w in self.workers),
            os.getpid(),
        )
        for line in self._held:
            self._write(line)
        self._held.clear()

    @staticmethod
    def _pid(w: _Worker) -> int | None:
        return w.proc.pid if w.proc is not None else None

    # -- lifecycle ---------------------------------------------------------
    async def run(self) -> int:
        """Supervise until SIGTERM/SIGINT (or :meth:`stop`); 0 when every worker stopped cleanly."""
        self._stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            return await self._run()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    def stop(self) -> None:
        """Start the graceful drain, as SIGTERM does."""
        self._on_signal(signal.SIGTERM)

    async def _run(self) -> int:
        stopping = self._stopping
        assert stopping is not None
        loop = asyncio.get_running_loop()
        if not self.port:
            self.port = _free_port(self.settings.host)
        if self.settings.effective_database_url.startswith("sqlite://"):
            log.warning(
                "%d workers share one SQLite file (%s); use HUB_DATABASE_URL=postgresql://… "
                "in production",
                len(self.workers),
                self.settings.effective_database_url,
            )
        # Development secrets are files in data_dir: create them once here, so that
        # workers starting together read the same ones instead of racing to write them.
        if not self.settings.token_secret and not self.settings.token_public_key:
            dev_secret(self.settings.data_dir, "dev-token-secret")
        if not self.settings.api_key:
            dev_secret(self.settings.data_dir, "dev-api-key")
        log.info("supervisor pid %d: starting %d workers", os.getpid(), len(self.workers))
        watchers = [asyncio.create_task(self._watch(w)) for w in self.workers]
        await stopping.wait()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
            loop.add_signal_handler(sig, self._signal_all, signal.SIGTERM)
        self._signal_all(signal.SIGTERM)
        _done, pending = await asyncio.wait(watchers, timeout=self.stop_timeout)
        clean = self._failure is None
        if pending:
            log.error(
                "%d workers still running %.0f s after SIGTERM: killing them",
                len(pending),
                self.stop_timeout,
            )
            self._signal_all(signal.SIGKILL)
            await asyncio.wait(pending)
            clean = False
        for task in watchers:
            if not task.result():
                clean = False
        for line in self._held:  # workers that were ready when the hub never was
            self._write(line)
        self._held.clear()
        if self._failure is not None:
            log.error("%s", self._failure)
        elif clean:
            log.info("all %d workers stopped cleanly", len(self.workers))
        else:
            log.error("some workers did not stop cleanly")
        return 0 if clean else 1

    def _on_signal(self, sig: signal.Signals) -> None:
        assert self._stopping is not None
        if not self._stopping.is_set():
            log.info(
                "%s: draining %d workers (clients are told 4012 and reconnect elsewhere)",
                sig.name,
                len(self.workers),
            )
            self._stopping.set()

    def _signal_all(self, sig: int) -> None:
        for w in self.workers:
            if w.proc is not None and w.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    w.proc.send_signal(sig)

    def _give_up(self, message: str) -> None:
        assert self._stopping is not None
        if self._failure is None:
            self._failure = message
        self._stopping.set()

    async def _spawn(self, w: _Worker) -> asyncio.subprocess.Process:
        w.node_id = f"{self.base_id}-w{w.index}"
        if w.generation:
            w.node_id += f"r{w.generation}"
        env = dict(self.env)
        env[WORKER_INDEX_ENV] = str(w.index)
        env[SUPERVISOR_PID_ENV] = str(os.getpid())
        argv = [*self.argv, "--node-id", w.node_id, "--port", str(self.port)]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            limit=_LINE_LIMIT,
        )
        w.proc = proc
        w.ready = False
        log.info("worker %s started: pid %d, node %s", w.label, proc.pid, w.node_id)
        return proc

    async def _pump(self, w: _Worker, proc: asyncio.subprocess.Process) -> None:
        stream = proc.stdout
        assert stream is not None
        while True:
            try:
                line = await stream.readline()
            except ValueError:
                self._write(f"[{w.label}] (a line longer than {_LINE_LIMIT} bytes was cut)\n")
                continue
            if not line:
                return
            self._forward(w, line)

    async def _watch(self, w: _Worker) -> bool:
        """Run worker ``w`` until the hub stops; True when its last exit was clean."""
        try:
            return await self._watch_loop(w)
        except Exception as exc:
            log.exception("worker %s: supervision failed", w.label)
            self._give_up(f"giving up: cannot run worker {w.label}: {exc}")
            return False

    async def _watch_loop(self, w: _Worker) -> bool:
        stopping = self._stopping
        assert stopping is not None
        while True:
            proc = await self._spawn(w)
            if stopping.is_set():  # the stop signal came while it was being started
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            await self._pump(w, proc)
            status = await proc.wait()
            was_ready, w.ready = w.ready, False
            if stopping.is_set():
                quiet = status == 0 or (
                    not was_ready and status in (-signal.SIGTERM, -signal.SIGINT)
                )
                if quiet:
                    log.info("worker %s (pid %d) stopped", w.label, proc.pid)
                else:
                    log.error("worker %s (pid %d) %s", w.label, proc.pid, _describe(status))
                return quiet
            now = time.monotonic()
            w.crashes.append(now)
            while w.crashes and now - w.crashes[0] > self.crash_window:
                w.crashes.popleft()
            log.error(
                "worker %s (pid %d, node %s) %s unexpectedly",
                w.label,
                proc.pid,
                w.node_id,
                _describe(status),
            )
            if status == 2 and not w.ever_ready:
                self._give_up(
                    f"giving up: worker {w.label} exited with status 2 (configuration error) "
                    "before it was ever ready; see its output above"
                )
                return False
            if len(w.crashes) >= self.crash_limit:
                self._give_up(
                    f"giving up: worker {w.label} failed {len(w.crashes)} times within "
                    f"{self.crash_window:.0f} s (crash loop); see its output above"
                )
                return False
            delay = min(self.backoff_initial * 2 ** (len(w.crashes) - 1), self.backoff_max)
            log.info("restarting worker %s in %.1f s", w.label, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
            if stopping.is_set():
                return True
            w.generation += 1
