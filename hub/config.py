"""Settings: every one is an environment variable ``HUB_*``, a ``--flag`` and a TOML key.

Precedence, lowest first: defaults, the TOML file (``--config`` / ``HUB_CONFIG``;
top-level keys are the setting names, e.g. ``port = 8080``), the environment,
the command line. Settings of other layers (adapters, domain) are read from the
same environment and file by their own loaders; :attr:`Settings.file_values`
keeps the file's raw mapping for them.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from hub.numbers import parse_float, parse_int

__all__ = ["ConfigError", "Settings", "add_arguments", "load_settings"]


_NAMESPACE = re.compile(r"[a-z][a-z0-9_]{0,31}")  # PROTOCOL.md §4
MAX_FLOAT_SETTING: Final = 1e9


class ConfigError(ValueError):
    """A setting has a value the hub cannot use; the message names it."""


def _opt(default: Any, help: str, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"help": help, "secret": secret})


@dataclass(slots=True)
class Settings:
    host: str = _opt("127.0.0.1", "address to listen on")
    port: int = _opt(8080, "HTTP and WebSocket port")
    data_dir: str = _opt("./data", "directory for the embedded SQLite store and dev secrets")
    database_url: str = _opt("", "sqlite:///path or postgresql://… (default: SQLite in data_dir)")
    redis_url: str = _opt("", "redis://, rediss:// or redis+sentinel:// URL: the Redis broker")
    token_secret: str = _opt("", "HS256 secret for connection tokens", secret=True)
    token_public_key: str = _opt("", "PEM public key (RS256/ES256) for connection tokens")
    api_key: str = _opt("", "bearer key of the server API", secret=True)
    namespaces: str = _opt(
        "", "extra channel namespaces open to every authenticated member (comma-separated)"
    )
    connect_timeout: float = _opt(10.0, "seconds a connection has to authenticate")
    head_timeout: float = _opt(
        10.0, "seconds a new TCP connection has to send a complete HTTP request head"
    )
    body_timeout: float = _opt(60.0, "seconds an HTTP request has from its head to its body's end")
    keepalive_timeout: float = _opt(75.0, "seconds an idle keep-alive HTTP connection stays open")
    max_pending: int = _opt(
        0,
        "connections with an incomplete HTTP request at once; one more closes the oldest "
        "(0: a quarter of the file-descriptor limit)",
    )
    ping_interval: float = _opt(25.0, "seconds between server pings")
    max_data_size: int = _opt(65536, "largest encoded 'data' of one message, bytes")
    max_frame_size: int = _opt(1 << 20, "largest WebSocket message read, bytes")
    max_subscriptions: int = _opt(256, "subscriptions per connection")
    rate_limit: float = _opt(100.0, "requests per second per connection")
    rate_burst: int = _opt(200, "request burst per connection")
    client_queue_max: int = _opt(1 << 20, "outbound bytes buffered per connection before 4010")
    history_size: int = _opt(1000, "recovery window: messages kept per channel")
    history_ttl: float = _opt(86400.0, "recovery window: seconds a message is kept")
    history_retention_days: float = _opt(0.0, "days the archive keeps history (0: keep everything)")
    redis_presence_ttl: float = _opt(
        30.0, "seconds a crashed process's clients stay in presence (Redis broker)"
    )
    redis_probe_interval: float = _opt(
        5.0, "seconds between the Redis broker's pub/sub self-checks (0: off)"
    )
    join_leave: bool = _opt(True, "send join/leave pushes")
    join_leave_max: int = _opt(
        1000, "no join/leave pushes in channels with more local subscribers than this"
    )
    node_id: str = _opt(
        "",
        "name of this process in a cluster, in logs and client ids (default: "
        "<host>-<pid><random>, unique per process)",
    )
    log_level: str = _opt("INFO", "DEBUG, INFO, WARNING or ERROR")
    flush_interval: float = _opt(0.0, "seconds between store batch flushes (0: every loop turn)")
    workers: int = _opt(
        0,
        "worker processes sharing the port; 0: one per core with redis_url, else 1 "
        "(more than 1 needs redis_url)",
    )
    config: str = _opt("", "TOML configuration file")
    file_values: dict[str, Any] = field(default_factory=dict, metadata={"internal": True})

    @property
    def extra_namespaces(self) -> frozenset[str]:
        return frozenset(n.strip() for n in self.namespaces.split(",") if n.strip())

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return "sqlite://" + str((Path(self.data_dir) / "hub.db").resolve())

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with secrets replaced, safe to log."""
        out: dict[str, Any] = {}
        for f in _fields():
            v = getattr(self, f.name)
            out[f.name] = "***" if f.metadata.get("secret") and v else v
        return out


def _fields() -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(Settings) if not f.metadata.get("internal")]


def _env_name(name: str) -> str:
    return "HUB_" + name.upper()


_TRUE: Final = {"1", "true", "yes", "on"}
_FALSE: Final = {"0", "false", "no", "off"}


def _convert(name: str, kind: Any, raw: object) -> Any:
    try:
        if kind in (bool, "bool"):
            if isinstance(raw, bool):
                return raw
            s = str(raw).strip().lower()
            if s in _TRUE:
                return True
            if s in _FALSE:
                return False
            raise ValueError(raw)
        if kind in (int, "int"):
            if isinstance(raw, bool):
                raise ValueError(raw)
            if isinstance(raw, int):  # from the TOML file
                return raw
            return parse_int(str(raw).strip(" \t"))  # ASCII digits only: not "１２"
        if kind in (float, "float"):
            if isinstance(raw, bool):
                raise ValueError(raw)
            value = (
                float(raw) if isinstance(raw, int | float) else parse_float(str(raw).strip(" \t"))
            )
            if not math.isfinite(value):  # nan passes every "> 0" check, inf every bound
                raise ValueError(raw)
            return value
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{_env_name(name)}: cannot use {raw!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one ``--flag`` per setting; the help names its environment variable."""
    for f in _fields():
        flag = "--" + f.name.replace("_", "-")
        env = _env_name(f.name)
        help_text = f"{f.metadata['help']} [{env}, default {f.default!r}]"
        if f.type in (bool, "bool"):
            parser.add_argument(
                flag,
                dest=f.name,
                default=None,
                action=argparse.BooleanOptionalAction,
                help=help_text,
            )
        else:
            parser.add_argument(
                flag, dest=f.name, default=None, metavar=f.name.upper(), help=help_text
            )


def _read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None


def load_settings(
    args: argparse.Namespace | None = None,
    env: Mapping[str, str] | None = None,
    validate: Callable[[Settings], None] | None = None,
) -> Settings:
    """Build settings from defaults, file, environment and parsed flags (in that order)."""
    env = os.environ if env is None else env
    flags = vars(args) if args is not None else {}
    config_path = flags.get("config") or env.get("HUB_CONFIG", "")
    file_values = _read_file(config_path) if config_path else {}
    values: dict[str, Any] = {}
    for f in _fields():
        raw: object = None
        if f.name in file_values:
            raw = file_values[f.name]
        if _env_name(f.name) in env:
            raw = env[_env_name(f.name)]
        if flags.get(f.name) is not None:
            raw = flags[f.name]
        if raw is not None:
            values[f.name] = _convert(f.name, f.type, raw)
    settings = Settings(**values, file_values=file_values)
    _check(settings)
    if validate is not None:
        validate(settings)
    return settings


def _check(s: Settings) -> None:
    positive: Sequence[str] = (
        "max_data_size",
        "max_frame_size",
        "max_subscriptions",
        "rate_limit",
        "rate_burst",
        "client_queue_max",
        "history_size",
        "history_ttl",
        "connect_timeout",
        "head_timeout",
        "body_timeout",
        "keepalive_timeout",
        "ping_interval",
        "redis_presence_ttl",
    )
    for name in positive:
        if getattr(s, name) <= 0:
            raise ConfigError(f"{_env_name(name)} must be positive")
    if s.max_pending < 0:
        raise ConfigError("HUB_MAX_PENDING cannot be negative")
    for f in _fields():  # seconds, days, rates: a huge one overflows once made milliseconds
        if f.type in (float, "float") and getattr(s, f.name) > MAX_FLOAT_SETTING:
            raise ConfigError(f"{_env_name(f.name)} must be at most {MAX_FLOAT_SETTING:g}")
    if s.workers < 0:
        raise ConfigError("HUB_WORKERS cannot be negative")
    if s.workers == 0:  # auto: every core, when processes can share a broker
        s.workers = (os.cpu_count() or 1) if s.redis_url else 1
    if not 0 <= s.port <= 65535:
        raise ConfigError("HUB_PORT must be between 0 (any free port) and 65535")
    if s.redis_probe_interval < 0 or s.history_retention_days < 0:
        raise ConfigError(
            "HUB_REDIS_PROBE_INTERVAL and HUB_HISTORY_RETENTION_DAYS cannot be negative"
        )
    if s.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError("HUB_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
    if s.token_public_key:
        from hub.auth import public_key_problem  # PyJWT's key loading

        problem = public_key_problem(s.token_public_key)
        if problem is not None:
            raise ConfigError(f"HUB_TOKEN_PUBLIC_KEY: cannot be read ({problem})")
    if s.redis_url:  # every process needs it: refused before a worker starts
        from hub.brokers.redis.connector import parse_url

        parse_url(s.redis_url)
    for ns in sorted(s.extra_namespaces):
        if not _NAMESPACE.fullmatch(ns):
            raise ConfigError(
                f"HUB_NAMESPACES: {ns[:40]!r} is not a namespace (a lowercase letter, then "
                "up to 31 lowercase letters, digits or '_')"
            )
    url = s.effective_database_url
    if not url.startswith(("sqlite://", "postgresql://", "postgres://")):
        raise ConfigError("HUB_DATABASE_URL must start with sqlite:// or postgresql://")
