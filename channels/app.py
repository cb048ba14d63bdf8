"""The domain layer as an engine extension: the org directory and its API, the
authorizer's namespaces (group, unit, notice), group chat ops and hooks, and
the demo organization."""

from __future__ import annotations

import logging

from channels.authz import NoticePolicy, NoticeWatchers, register_policies, revoker
from channels.chat import ChatOps, ReadMarkers
from channels.chat import markers as chat_schema
from channels.demo import demo_instructions, load_demo
from channels.directory import schema as directory_schema
from channels.directory.api import DirectoryApi
from channels.directory.openapi import PATHS, SCHEMAS
from channels.directory.service import Directory
from hub.bootstrap import Runtime
from hub.config import Settings

__all__ = ["DomainExtension"]

log = logging.getLogger("channels")


class DomainExtension:
    """``cache_ttl``: seconds another node's directory change may take to reach this
    node's permission cache (changes made on this node take effect at once)."""

    def __init__(self, settings: Settings, *, demo: bool = False, cache_ttl: float = 5.0) -> None:
        self.settings = settings
        self.demo = demo
        self.cache_ttl = cache_ttl
        self._directory: Directory | None = None
        self._chat: ChatOps | None = None
        self._notice: NoticePolicy | None = None

    @property
    def directory(self) -> Directory:
        assert self._directory is not None, "install() first"
        return self._directory

    @property
    def chat(self) -> ChatOps:
        assert self._chat is not None, "install() first"
        return self._chat

    def install(self, runtime: Runtime) -> None:
        directory = self._directory = Directory(lambda: runtime.store.database, self.cache_ttl)
        self._notice = register_policies(runtime.authorizer, directory, self.notice_watchers)
        markers = ReadMarkers(lambda: runtime.store.database)
        self._chat = ChatOps(runtime.node, markers, self._groups_of)
        self._chat.install()
        directory.listeners.append(revoker(runtime.node))
        DirectoryApi(directory, runtime.verifier, self._chat.unread).add_routes(runtime.app)
        runtime.openapi.add(PATHS, SCHEMAS)

    async def notice_watchers(self, notice_id: str) -> set[str]:
        """Members who may watch ``notice:<notice_id>``: for now the directory's
        admins. The notices layer replaces it (:meth:`set_notice_watchers`) with one
        that adds the notice's sender."""
        return await self.directory.admins()

    def set_notice_watchers(self, watchers: NoticeWatchers) -> None:
        assert self._notice is not None, "install() first"
        self._notice.watchers = watchers

    async def _groups_of(self, member: str) -> list[str]:
        access = await self.directory.access(member)
        return [] if access is None else sorted(access.groups)

    async def migrate(self, runtime: Runtime) -> dict[str, list[int]]:
        """Apply the domain's migrations (``hub migrate`` and :meth:`start` call it)."""
        db = runtime.store.database
        return {
            directory_schema.COMPONENT: await db.migrate(
                directory_schema.COMPONENT, directory_schema.MIGRATIONS
            ),
            chat_schema.COMPONENT: await db.migrate(chat_schema.COMPONENT, chat_schema.MIGRATIONS),
        }

    async def start(self, runtime: Runtime) -> None:
        applied = await self.migrate(runtime)
        if any(applied.values()):
            log.info("domain migrations applied: %s", applied)
        if self.demo:
            changed = await load_demo(self.directory)
            log.info("demo organization %s", "loaded" if changed else "already present")

    async def ready(self, runtime: Runtime) -> None:
        """The port is listening (its real number is known, also with ``--port 0``)."""
        if self.demo:
            print(demo_instructions(runtime.verifier, self.settings.host, runtime.port), flush=True)

    async def stop(self, runtime: Runtime) -> None:
        return None
