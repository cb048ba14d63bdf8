"""The ``hub`` command: ``serve``, ``token``, ``migrate``; other layers add commands
through ``add_commands`` and extensions through ``make_extensions`` (see
channels/cli.py, the composition root).

Every command is a ``func`` set with ``set_defaults`` and called as
``func(args, make_extensions)``; it returns the exit status. Exit statuses: 0 done,
1 the command ran and failed (or an unexpected error: one line ``hub: error: ...``,
the traceback only with ``--debug`` or ``HUB_DEBUG=1``), 2 a usage or configuration
error (argparse's usage line, or ``hub: configuration error: ...``)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import math
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from hub import supervisor
from hub.auth import MAX_TOKEN_TTL, TokenVerifier, dev_secret
from hub.bootstrap import Extension, Runtime
from hub.config import ConfigError, Settings, add_arguments, load_settings
from hub.protocol.errors import HubError

__all__ = ["SubParsers", "build_parser", "main", "run_server", "setup_logging"]

log = logging.getLogger("hub")

MakeExtensions = Callable[[Settings, argparse.Namespace], Sequence[Extension]]
if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    SubParsers = Any
AddCommands = Callable[[SubParsers], None]

DEBUG_HELP = "print the traceback of an unexpected error (also HUB_DEBUG=1)"


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _positive_seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {raw!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {raw!r}")
    if value > MAX_TOKEN_TTL:
        raise argparse.ArgumentTypeError(f"at most {MAX_TOKEN_TTL:g} seconds (a year): {raw!r}")
    return value


def _add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """``--debug`` on this parser and every sub-parser, so it goes anywhere on the line."""
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _add_debug_flag(child)


def build_parser(add_commands: AddCommands | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="Tongzhi messaging and notice hub")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="run the hub",
        description="Run the hub. Every setting is also an environment variable HUB_* "
        "and a key of the TOML file given with --config.",
    )
    add_arguments(serve)
    serve.add_argument(
        "--demo", action="store_true", help="load the demo organization and print how to try it"
    )
    serve.set_defaults(func=_serve)
    token = sub.add_parser("token", help="mint a connection token for a member")
    token.add_argument("member", help="the member id (the token's sub)")
    token.add_argument(
        "--ttl", type=_positive_seconds, default=None, help="seconds until it expires"
    )
    token.add_argument(
        "--grant",
        action="append",
        default=[],
        metavar="CHANNEL",
        help="extra channel the token grants (subscribe); repeatable",
    )
    token.add_argument(
        "--grant-publish",
        action="append",
        default=[],
        metavar="CHANNEL",
        help="extra channel the token grants with publish; repeatable",
    )
    add_arguments(token)
    token.set_defaults(func=_token)
    migrate = sub.add_parser("migrate", help="apply the database migrations, then exit")
    add_arguments(migrate)
    migrate.set_defaults(func=_migrate)
    if add_commands is not None:
        add_commands(sub)
    _add_debug_flag(parser)
    return parser


def _ensure_data_dir(settings: Settings) -> None:
    """Create the data directory (dev secrets, the embedded SQLite store) or say why not."""
    try:
        os.makedirs(settings.data_dir, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"HUB_DATA_DIR {settings.data_dir}: cannot create it: {exc.strerror or exc}"
        ) from None
    if not os.access(settings.data_dir, os.W_OK | os.X_OK):
        raise ConfigError(f"HUB_DATA_DIR {settings.data_dir}: not writable")


def _token(args: argparse.Namespace, make_extensions: MakeExtensions | None) -> int:
    settings = load_settings(args)
    if not settings.token_secret and settings.token_public_key:
        raise ConfigError(
            "minting needs HUB_TOKEN_SECRET: with only HUB_TOKEN_PUBLIC_KEY the hub verifies "
            "tokens that the organization's own signer issues"
        )
    if not settings.token_secret:
        _ensure_data_dir(settings)
    secret = settings.token_secret or dev_secret(settings.data_dir, "dev-token-secret")[0]
    channels: list[object] = list(args.grant)
    channels += [{"channel": c, "publish": True} for c in args.grant_publish]
    print(TokenVerifier(secret).mint(args.member, channels=channels or None, ttl=args.ttl))
    return 0


def _migrate(args: argparse.Namespace, make_extensions: MakeExtensions | None) -> int:
    """The engine's migrations (``store.open``), then every extension's ``migrate``."""
    settings = load_settings(args)
    setup_logging(settings.log_level)
    _ensure_data_dir(settings)
    extensions = list(make_extensions(settings, args)) if make_extensions else []
    return asyncio.run(_apply_migrations(settings, extensions))


async def _apply_migrations(settings: Settings, extensions: Sequence[Extension]) -> int:
    runtime = Runtime(settings, extensions)
    await runtime.store.open()
    try:
        for ext in runtime.extensions:
            migrate = getattr(ext, "migrate", None)
            if migrate is not None:
                await migrate(runtime)
    finally:
        await runtime.store.close()
    log.info("migrations applied")
    return 0


def _serve(args: argparse.Namespace, make_extensions: MakeExtensions | None) -> int:
    settings = load_settings(args)
    setup_logging(settings.log_level)
    _ensure_data_dir(settings)
    if settings.workers > 1 and not supervisor.is_worker():
        return supervisor.supervise(settings)
    supervisor.worker_setup()
    extensions = list(make_extensions(settings, args)) if make_extensions else []
    return run_server(settings, extensions)


def run_server(settings: Settings, extensions: Sequence[Extension] = ()) -> int:
    """Run one hub process until SIGTERM/SIGINT; exit status 0 after a clean stop."""
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        runner = asyncio.Runner()
    with runner:
        return runner.run(_run(settings, extensions))


# The store's thread needs the GIL for a moment per batch; with CPython's default
# 5 ms switch interval it waits behind a busy event loop, and every publish
# acknowledgement with it (S1 in docs/performance.md: 68k → 191k deliveries/s at 1 ms).
SWITCH_INTERVAL = 0.001


async def _run(settings: Settings, extensions: Sequence[Extension]) -> int:
    sys.setswitchinterval(SWITCH_INTERVAL)
    runtime = Runtime(settings, extensions)
    for note in runtime.dev_notes:
        log.warning("%s", note)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runtime.start()
    except OSError as exc:
        await _stop_quietly(runtime)
        raise ConfigError(_start_failure(settings, exc)) from None
    log.info(
        "hub ready: listening on http://%s:%d (WebSocket ws://%s:%d/ws), "
        "node %s, store %s, broker %s",
        settings.host,
        runtime.port,
        settings.host,
        runtime.port,
        runtime.node.node_id,
        type(runtime.store).__name__,
        type(runtime.broker).__name__,
    )
    await stop.wait()
    log.info("stopping: telling clients to reconnect elsewhere (4012)")
    await runtime.stop()
    log.info("stopped cleanly")
    return 0


_BIND_ERRORS = {errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES}


def _start_failure(settings: Settings, exc: OSError) -> str:
    if isinstance(exc, socket.gaierror) or exc.errno in _BIND_ERRORS:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE or "address already in use" in str(exc):
            reason = "address already in use"
        return f"cannot listen on {settings.host}:{settings.port} (HUB_HOST/HUB_PORT): {reason}"
    return f"cannot start: {exc}"


async def _stop_quietly(runtime: Runtime) -> None:
    """Release what a failed start opened (store lock, broker links); errors are logged."""
    try:
        await runtime.stop()
    except Exception:
        log.debug("stop after a failed start failed", exc_info=True)


def _debug_wanted(args: argparse.Namespace | None) -> bool:
    if args is not None and getattr(args, "debug", False):
        return True
    return os.environ.get("HUB_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}


def main(
    argv: Sequence[str] | None = None,
    *,
    make_extensions: MakeExtensions | None = None,
    add_commands: AddCommands | None = None,
) -> int:
    """Run one ``hub`` command; every failure ends as one line on stderr and a status."""
    args: argparse.Namespace | None = None
    try:
        args = build_parser(add_commands).parse_args(argv)
        result: int = args.func(args, make_extensions)
    except ConfigError as exc:
        print(f"hub: configuration error: {exc}", file=sys.stderr)
        return 2
    except HubError as exc:
        print(f"hub: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hub: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # The guard of last resort: every known failure is handled where it happens,
        # so this is a bug; one line for the operator, the traceback on request.
        if _debug_wanted(args):
            traceback.print_exc()
        detail = str(exc).splitlines()[0] if str(exc) else ""
        name = type(exc).__name__
        print(f"hub: error: {name}: {detail}" if detail else f"hub: error: {name}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
