"""The domain layer as an engine extension: the org directory and its API, the
authorizer's namespaces (group, unit, notice), group chat ops and hooks, and
the demo organization."""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Mapping
from typing import Literal

from adapters import (
    CALLBACK_PROVIDERS,
    Adapter,
    Secret,
    aclose_all,
    build_adapters,
    callback_routes,
    load_config,
)
from adapters.standin import Standins, start_standins
from channels.alerts import AlertsApi, CallbackSink, Escalator, Outbox
from channels.alerts import schema as alerts_schema
from channels.alerts.replies import simulated_reply
from channels.alerts.settings import EscalationSettings, load_escalation_settings
from channels.authz import (
    NoticePolicy,
    NoticeWatchers,
    cluster_remover,
    cluster_revoker,
    register_policies,
)
from channels.chat import ChatOps, ReadMarkers
from channels.chat import markers as chat_schema
from channels.demo import demo_instructions, load_demo, send_demo
from channels.directory import schema as directory_schema
from channels.directory.api import DirectoryApi
from channels.directory.openapi import PATHS, SCHEMAS
from channels.directory.service import Directory
from channels.notices import AckLinks, Clock, Notices, NoticesApi, install_ops
from channels.notices import schema as notices_schema
from channels.notices.openapi import PATHS as NOTICE_PATHS
from channels.notices.openapi import SCHEMAS as NOTICE_SCHEMAS
from channels.web import install_web
from hub.auth import dev_secret
from hub.bootstrap import Runtime
from hub.config import Settings

__all__ = ["DomainExtension"]

log = logging.getLogger("channels")


class DomainExtension:
    """``cache_ttl``: seconds another node's directory change may take to reach this
    node's permission cache (changes made on this node take effect at once).

    Notices and alerts: ``clock`` (wall seconds; tests inject one), ``adapters``
    (default: built from ``adapters_env``, else the process environment, with
    ``log`` when no provider is configured), ``escalation`` (lease and period of
    the scheduler; default ``HUB_ESCALATION_LEASE`` / ``HUB_ESCALATION_PERIOD``
    from the environment and the config file), ``escalation_poll`` (seconds
    between scheduler ticks, overriding the period; None: only explicit
    :meth:`Escalator.tick` calls), ``public_url`` (the base of ack links;
    ``HUB_PUBLIC_URL``).

    Provider callbacks are mounted only for the configured providers and only
    under ``HUB_CALLBACK_PREFIX`` (``callbacks_prefix``; the sandbox makes up a
    random one when it is not set), limited to ``HUB_CALLBACK_ALLOW``."""

    def __init__(
        self,
        settings: Settings,
        *,
        demo: bool = False,
        cache_ttl: float = 5.0,
        clock: Clock = time.time,
        adapters: Mapping[str, Adapter] | None = None,
        adapters_env: Mapping[str, str] | None = None,
        escalation: EscalationSettings | None = None,
        escalation_poll: float | Literal["period"] | None = "period",
        public_url: str | None = None,
        sandbox: bool = False,
    ) -> None:
        self.settings = settings
        self.demo = demo
        self.cache_ttl = cache_ttl
        self.clock = clock
        self.escalation = escalation or load_escalation_settings(settings.file_values, os.environ)
        self.escalation_poll: float | None = (
            self.escalation.period if isinstance(escalation_poll, str) else escalation_poll
        )
        self.public_url = public_url or os.environ.get("HUB_PUBLIC_URL")
        env = os.environ if adapters_env is None else adapters_env
        self._adapters_config = load_config(env, settings.file_values)
        prefix = self._adapters_config.callbacks.prefix
        if prefix is None and sandbox:
            prefix = Secret(f"/callbacks/{secrets.token_urlsafe(18)}")
        self._callbacks_prefix = prefix
        self.adapters: dict[str, Adapter] = (
            dict(adapters) if adapters is not None else build_adapters(self._adapters_config)
        )
        # Sandbox: every provider is a local stand-in (started in start()) that checks
        # the real signatures and sends delivery reports back; nothing leaves the machine.
        self.sandbox = sandbox
        self._standins: Standins | None = None
        self._sandbox_wechat_token = secrets.token_hex(8) if sandbox else None
        self._notices: Notices | None = None
        self._escalator: Escalator | None = None
        self._runtime: Runtime | None = None
        self._directory: Directory | None = None
        self._chat: ChatOps | None = None
        self._notice: NoticePolicy | None = None

    @property
    def callbacks_prefix(self) -> str | None:
        """The secret path the provider callbacks are mounted under (None: none are)."""
        return None if self._callbacks_prefix is None else self._callbacks_prefix.reveal()

    @property
    def directory(self) -> Directory:
        assert self._directory is not None, "install() first"
        return self._directory

    @property
    def chat(self) -> ChatOps:
        assert self._chat is not None, "install() first"
        return self._chat

    @property
    def notices(self) -> Notices:
        assert self._notices is not None, "install() first"
        return self._notices

    @property
    def escalator(self) -> Escalator:
        assert self._escalator is not None, "install() first"
        return self._escalator

    def _ack_secret(self) -> bytes:
        settings = self._runtime.settings if self._runtime is not None else self.settings
        secret = os.environ.get("HUB_ACK_SECRET") or settings.token_secret
        if not secret:
            secret, _ = dev_secret(self.settings.data_dir, "dev-ack-secret")
        return secret.encode()

    def _base_url(self) -> str:
        if self.public_url:
            return self.public_url
        port = self._runtime.port if self._runtime is not None else self.settings.port
        return f"http://{self.settings.host}:{port}"

    def _install_notices(self, runtime: Runtime, directory: Directory) -> None:
        notices = self._notices = Notices(
            runtime.node, lambda: runtime.store.database, directory, self.clock
        )
        install_ops(notices)
        self.set_notice_watchers(notices.watchers)
        links = AckLinks(self._ack_secret(), self._base_url)
        napi = NoticesApi(notices, runtime.verifier, links)
        napi.add_routes(runtime.app)
        outbox = Outbox(notices, self.adapters, links)
        esc = self._escalator = Escalator(
            notices, outbox, lease=self.escalation.lease, poll=self.escalation_poll
        )
        notices.create_hooks.append(esc.schedule)
        AlertsApi(napi, esc).add_routes(runtime.app)
        self._install_callbacks(runtime, notices)

    def _install_callbacks(self, runtime: Runtime, notices: Notices) -> None:
        config = self._adapters_config
        providers = list(CALLBACK_PROVIDERS) if self.sandbox else config.configured()
        wechat = config.wechat
        wechat_token = self._sandbox_wechat_token or (
            None if wechat is None else wechat.callback_token
        )
        with_callbacks = [
            p for p in providers if p in CALLBACK_PROVIDERS and (p != "wechat" or wechat_token)
        ]
        if self._callbacks_prefix is None:
            if with_callbacks:
                log.warning(
                    "no provider callback routes: HUB_CALLBACK_PREFIX is not set, so delivery "
                    "reports and SMS replies of %s are not received",
                    ", ".join(with_callbacks),
                )
            return
        if not with_callbacks:
            return
        runtime.app.router.add_routes(
            callback_routes(
                CallbackSink(notices),
                prefix=self._callbacks_prefix,
                providers=with_callbacks,
                wechat_token=wechat_token,
                allow=config.callbacks.allow,
                trusted_proxies=config.callbacks.trusted_proxies,
            )
        )
        log.info(
            "provider callbacks for %s under HUB_CALLBACK_PREFIX, %s",
            ", ".join(with_callbacks),
            f"from {len(config.callbacks.allow)} allowed network(s)"
            if config.callbacks.allow
            else "from any address (HUB_CALLBACK_ALLOW is not set)",
        )

    def install(self, runtime: Runtime) -> None:
        self._runtime = runtime
        directory = self._directory = Directory(lambda: runtime.store.database, self.cache_ttl)
        self._notice = register_policies(runtime.authorizer, directory, self.notice_watchers)
        markers = ReadMarkers(lambda: runtime.store.database)
        self._chat = ChatOps(runtime.node, markers, self._groups_of)
        self._chat.install()
        directory.listeners.append(cluster_revoker(runtime.node, directory))
        directory.removal_listeners.append(cluster_remover(runtime.node))
        directory.join_listeners.append(self._chat.joined)
        DirectoryApi(directory, runtime.verifier, self._chat.unread).add_routes(runtime.app)
        runtime.openapi.add(PATHS, SCHEMAS)
        self._install_notices(runtime, directory)
        runtime.openapi.add(NOTICE_PATHS, NOTICE_SCHEMAS)
        install_web(runtime, directory, demo=self.demo)

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
            notices_schema.COMPONENT: await db.migrate(
                notices_schema.COMPONENT, notices_schema.MIGRATIONS
            ),
            alerts_schema.COMPONENT: await db.migrate(
                alerts_schema.COMPONENT, alerts_schema.MIGRATIONS
            ),
        }

    async def _start_sandbox(self) -> None:
        standins = self._standins = await start_standins(self.settings.host)
        assert self._sandbox_wechat_token is not None
        standins.wechat.callback_token = self._sandbox_wechat_token
        standins.auto_reply(simulated_reply)  # the simulated member answers each SMS
        await aclose_all(self.adapters)
        self.adapters.clear()  # the outbox holds this mapping: refill it in place
        self.adapters.update(build_adapters(standins.config()))
        log.warning(
            "PROVIDER SANDBOX: SMS and WeChat go to local stand-ins (%s); nothing is sent out",
            ", ".join(f"{k} {v}" for k, v in standins.endpoints().items()),
        )

    async def start(self, runtime: Runtime) -> None:
        if self.sandbox:
            await self._start_sandbox()
        applied = await self.migrate(runtime)
        if any(applied.values()):
            log.info("domain migrations applied: %s", applied)
        if self.demo:
            changed = await load_demo(self.directory)
            log.info("demo organization %s", "loaded" if changed else "already present")
            await send_demo(self.notices)
        self.escalator.start()

    async def ready(self, runtime: Runtime) -> None:
        """The port is listening (its real number is known, also with ``--port 0``)."""
        if self._standins is not None and self.callbacks_prefix is not None:
            base = f"http://{self.settings.host}:{runtime.port}{self.callbacks_prefix}"
            self._standins.send_reports_to(base)
        if self.demo:
            print(demo_instructions(runtime.verifier, self.settings.host, runtime.port), flush=True)

    async def stop(self, runtime: Runtime) -> None:
        if self._escalator is not None:
            await self._escalator.stop()
        if self._notices is not None:
            await self._notices.receipts.close()
        await aclose_all(self.adapters)
        if self._standins is not None:
            await self._standins.close()
