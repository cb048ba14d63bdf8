"""The engine's composition: picks the store and broker from the settings, builds
the node and the HTTP app, and runs them. Extensions (the domain) plug in through
:class:`Extension`; the engine never imports them.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from hub.auth import TokenVerifier, dev_secret
from hub.config import ConfigError, Settings
from hub.core.authz import Authorizer
from hub.core.interfaces import Broker, Presence, Store
from hub.core.node import Node
from hub.core.ops import Ops
from hub.files import private_tree
from hub.server.api import NODE, OPENAPI, READY_CHECKS, add_engine_routes
from hub.server.edge import EDGE, Edge, body_deadline_middleware, handler_factory
from hub.server.http import API_KEY, error_middleware
from hub.server.openapi import OpenApi
from hub.server.ws import FrontProtocol

__all__ = ["Extension", "Runtime", "make_broker", "make_store"]

log = logging.getLogger("hub")

ReadyCheck = Callable[[], Awaitable[tuple[str, bool, Any]]]


class Extension(Protocol):
    """A layer on top of the engine (the domain): registers namespaces, ops, routes, hooks.

    Optional: ``async def ready(runtime)``, called once the port is listening, and
    ``async def migrate(runtime)``, called by ``hub migrate``."""

    def install(self, runtime: Runtime) -> None: ...

    async def start(self, runtime: Runtime) -> None: ...

    async def stop(self, runtime: Runtime) -> None: ...


def make_store(settings: Settings) -> Store:
    url = settings.effective_database_url
    if url.startswith("sqlite://"):
        from hub.store.sqlite import SqliteStore

        return SqliteStore.from_url(url)
    module = importlib.import_module("hub.store.postgres")
    store: Store = module.PostgresStore.from_settings(settings)
    return store


def make_broker(settings: Settings, store: Store) -> tuple[Broker, Presence]:
    if not settings.redis_url:
        from hub.brokers.memory import MemoryBroker, MemoryPresence

        broker = MemoryBroker(
            store,
            history_size=settings.history_size,
            history_ttl=settings.history_ttl,
            flush_interval=settings.flush_interval,
        )
        return broker, MemoryPresence()
    try:
        module = importlib.import_module("hub.brokers.redis")
    except ImportError as exc:
        raise ConfigError(
            f"HUB_REDIS_URL is set but the Redis broker is unavailable: {exc}"
        ) from None
    pair: tuple[Broker, Presence] = module.from_settings(settings, store)
    return pair


class Runtime:
    """Everything one hub process runs, wired from settings."""

    def __init__(self, settings: Settings, extensions: Sequence[Extension] = ()) -> None:
        self.settings = settings
        self.extensions = list(extensions)
        self.dev_notes: list[str] = []
        if Path(settings.data_dir).is_dir():  # restrict what an older version left readable
            private_tree(settings.data_dir)
        secret, public_key = settings.token_secret, settings.token_public_key
        if not secret and not public_key:
            secret, _ = dev_secret(settings.data_dir, "dev-token-secret")
            settings.token_secret = secret
            self.dev_notes.append(
                "DEVELOPMENT MODE: HUB_TOKEN_SECRET is not set; using a generated secret kept in "
                f"{settings.data_dir}/dev-token-secret. Set HUB_TOKEN_SECRET in production."
            )
        if not settings.api_key:
            settings.api_key, _ = dev_secret(settings.data_dir, "dev-api-key")
            self.dev_notes.append(
                "DEVELOPMENT MODE: HUB_API_KEY is not set; using a generated key kept in "
                f"{settings.data_dir}/dev-api-key. Set HUB_API_KEY in production."
            )
        self.verifier = TokenVerifier(secret, public_key)
        self.store = make_store(settings)
        self.broker, self.presence = make_broker(settings, self.store)
        self.authorizer = Authorizer(settings.extra_namespaces)
        self.node = Node(settings, self.broker, self.presence, self.authorizer, self.verifier)
        Ops(self.node)  # the op handlers, as node.dispatcher
        self.edge = Edge.from_settings(settings)
        self.app = web.Application(
            middlewares=[error_middleware, body_deadline_middleware], client_max_size=2 << 20
        )
        self.app[API_KEY] = settings.api_key
        self.app[EDGE] = self.edge
        self.app[NODE] = self.node
        self.app[OPENAPI] = OpenApi()
        self.app[READY_CHECKS] = [self._store_ready, self._broker_ready]
        add_engine_routes(self.app, self.node)
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None
        self.port = settings.port
        self._stopped = False
        self._retention: asyncio.Task[None] | None = None
        for ext in self.extensions:
            ext.install(self)
        conflicts = self.authorizer.open_conflicts()
        if conflicts:
            raise ConfigError(
                "HUB_NAMESPACES (--namespaces) would open reserved namespaces to every "
                f"member: {', '.join(conflicts)}; remove them (they have their own rules)"
            )

    @property
    def openapi(self) -> OpenApi:
        return self.app[OPENAPI]

    def add_ready_check(self, check: ReadyCheck) -> None:
        self.app[READY_CHECKS].append(check)

    async def _store_ready(self) -> tuple[str, bool, Any]:
        try:
            await asyncio.wait_for(self.store.ping(), 2.0)
        except Exception as exc:
            return "store", False, type(exc).__name__
        return "store", True, None

    async def _broker_ready(self) -> tuple[str, bool, Any]:
        try:
            ok = await asyncio.wait_for(self.broker.ready(), 2.0)
        except Exception as exc:
            return "broker", False, type(exc).__name__
        return "broker", ok, None

    async def start(self, sock: socket.socket | None = None) -> None:
        await self.store.open()
        if self.store.recovered_from_crash:
            log.warning("the previous run did not stop cleanly: channel epochs were changed")
        await self.node.start()
        if self.settings.history_retention_days > 0:
            self._retention = asyncio.get_running_loop().create_task(self._trim_archive())
        for ext in self.extensions:
            await ext.start(self)
        options: dict[str, Any] = {
            "access_log": None,
            "keepalive_timeout": self.settings.keepalive_timeout,
            "lingering_time": min(10.0, self.settings.body_timeout),
        }
        runner = web.AppRunner(self.app, handle_signals=False, **options)
        await runner.setup()
        self._runner = runner
        assert runner.server is not None
        http = handler_factory(runner.server, **options)
        loop = asyncio.get_running_loop()
        node, edge = self.node, self.edge

        def factory() -> FrontProtocol:
            return FrontProtocol(node, http, edge)

        if sock is not None:
            self._server = await loop.create_server(factory, sock=sock, backlog=4096)
        else:
            self._server = await loop.create_server(
                factory,
                self.settings.host,
                self.settings.port,
                backlog=4096,
                reuse_address=True,
                reuse_port=self.settings.workers > 1 or None,
            )
        self.port = self._server.sockets[0].getsockname()[1]
        for ext in self.extensions:  # optional: called once the port is listening
            ready = getattr(ext, "ready", None)
            if ready is not None:
                await ready(self)

    async def _trim_archive(self) -> None:
        """Keep the archive to ``history_retention_days`` (checked every hour at most)."""
        keep = self.settings.history_retention_days * 86400.0
        every = min(3600.0, keep / 10)
        while True:
            try:
                bound = int((time.time() - keep) * 1000)
                removed = await self.store.trim(bound)
                if removed:
                    log.info(
                        "archive retention: %d messages older than %.6g days removed",
                        removed,
                        self.settings.history_retention_days,
                    )
            except Exception:
                log.exception("archive retention failed; retrying later")
            await asyncio.sleep(every)

    async def stop(self) -> None:
        """Graceful: stop accepting, 4012 to every client, flush the store, close (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self._server is not None:
            self._server.close()
        if self._retention is not None:
            self._retention.cancel()
        await self.node.shutdown()
        for ext in reversed(self.extensions):
            try:
                await ext.stop(self)
            except Exception:
                log.exception("extension stop failed")
        if self._runner is not None:
            await self._runner.cleanup()
        await self.store.close()
