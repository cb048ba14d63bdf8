"""Who may subscribe and publish where (PROTOCOL.md §4), as the engine sees it.

The engine knows the ``member`` namespace, the token ``channels`` claim, and
namespaces opened by configuration. Every other namespace is decided by a
:class:`NamespacePolicy` that the domain layer registers (``group``, ``unit``,
``notice``); a namespace nobody registered is unknown (102).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from hub.auth import Identity
from hub.protocol.errors import Code, HubError
from hub.protocol.names import split_channel

__all__ = ["Authorizer", "DataValidator", "NamespacePolicy", "OpenNamespace"]


class NamespacePolicy(Protocol):
    async def can_subscribe(self, identity: Identity, channel: str, name: str) -> bool: ...

    async def can_publish(self, identity: Identity, channel: str, name: str) -> bool: ...


class DataValidator(Protocol):
    """Optional on a :class:`NamespacePolicy`: checks the ``data`` of a client's publish
    (after the permission check); raises ``HubError`` (107) when it is not acceptable."""

    def validate_data(self, identity: Identity, channel: str, name: str, data: Any) -> None: ...


class OpenNamespace:
    """Any authenticated member may subscribe and publish."""

    async def can_subscribe(self, identity: Identity, channel: str, name: str) -> bool:
        return True

    async def can_publish(self, identity: Identity, channel: str, name: str) -> bool:
        return True


class _MemberNamespace:
    async def can_subscribe(self, identity: Identity, channel: str, name: str) -> bool:
        return name == identity.member

    async def can_publish(self, identity: Identity, channel: str, name: str) -> bool:
        return False  # the server API only


class ServerChannels(Protocol):
    async def __call__(self, identity: Identity) -> Sequence[str]: ...


class Authorizer:
    """The engine's permission checks; the domain extends it by registering namespaces."""

    def __init__(self, open_namespaces: Iterable[str] = ()) -> None:
        self._policies: dict[str, NamespacePolicy] = {"member": _MemberNamespace()}
        # namespace -> who owns it; configuration may not open an owned one
        self._owners: dict[str, str] = {"member": "the engine (personal channels)"}
        self._open = tuple(sorted(set(open_namespaces)))
        for ns in self._open:
            self._policies.setdefault(ns, OpenNamespace())
        self._server_channels: list[ServerChannels] = []

    def register(self, namespace: str, policy: NamespacePolicy, owner: str = "") -> None:
        """Decide ``namespace`` with ``policy``; the namespace is then owned (reserved)."""
        self._policies[namespace] = policy
        self.reserve(namespace, owner or "an extension")

    def reserve(self, namespace: str, owner: str) -> None:
        """Declare ``namespace`` owned by ``owner`` (even one with no policy, that only
        the server publishes on): configuration may not open it to every member."""
        self._owners.setdefault(namespace, owner)

    def open_conflicts(self) -> list[str]:
        """The configured open namespaces (``HUB_NAMESPACES``) that someone owns,
        described for an error message; empty when the configuration is sound."""
        return [f"{ns!r} (owned by {self._owners[ns]})" for ns in self._open if ns in self._owners]

    def add_server_channels(self, source: ServerChannels) -> None:
        """Channels a member is subscribed to server-side at connect, besides ``member:<id>``."""
        self._server_channels.append(source)

    def knows(self, namespace: str) -> bool:
        return namespace in self._policies

    def _policy(self, identity: Identity, channel: str) -> tuple[NamespacePolicy, str]:
        ns, name = split_channel(channel)
        policy = self._policies.get(ns)
        if policy is None:
            raise HubError(Code.BAD_CHANNEL, f"unknown namespace: {ns!r}")
        return policy, name

    async def check_subscribe(self, identity: Identity, channel: str) -> None:
        if channel in identity.grants:
            return
        policy, name = self._policy(identity, channel)
        if not await policy.can_subscribe(identity, channel, name):
            raise HubError(Code.PERMISSION_DENIED, f"may not subscribe to {channel}")

    async def check_publish(self, identity: Identity, channel: str) -> None:
        granted = identity.grants.get(channel)
        if granted:
            return
        if granted is not None and not self.knows(split_channel(channel)[0]):
            raise HubError(Code.PERMISSION_DENIED, f"the token grants {channel} without publish")
        policy, name = self._policy(identity, channel)
        if not await policy.can_publish(identity, channel, name):
            raise HubError(Code.PERMISSION_DENIED, f"may not publish to {channel}")

    def validate_data(self, identity: Identity, channel: str, data: Any) -> None:
        """Let the namespace's policy check a client's ``data`` (if it wants to)."""
        ns, name = split_channel(channel)
        validate = getattr(self._policies.get(ns), "validate_data", None)
        if validate is not None:
            validate(identity, channel, name, data)

    async def server_channels(self, identity: Identity) -> list[str]:
        channels = [f"member:{identity.member}"]
        for source in self._server_channels:
            for ch in await source(identity):
                if ch not in channels:
                    channels.append(ch)
        return channels
