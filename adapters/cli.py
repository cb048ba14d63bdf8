"""``hub adapters check`` and ``hub adapters send`` (also ``python -m adapters``).

The hub's command line calls a command as ``func(args, <its own context>)``, so the
commands take only ``args`` positionally and ignore the rest; the output stream is
keyword-only (``out=``). Results go to ``out`` (stdout), refusals and errors are one
line on stderr (``err=``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import orjson

from .config import AdaptersConfig, load_config
from .errors import AdapterError, ConfigurationError
from .masking import mask_text
from .providers import DESCRIPTORS
from .registry import PROVIDERS, SMS_GROUP, aclose_all, build_adapters
from .standin import Standins, start_standins
from .types import Message

__all__ = ["add_commands", "main", "run_check", "run_send"]

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
_FAMILY_HINT = {
    **{d.name: f"{d.env_prefix}*" for d in DESCRIPTORS},
    SMS_GROUP: " or ".join(f"{d.env_prefix}*" for d in DESCRIPTORS if d.kind == "sms"),
}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML file with lower-case keys")
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="start local provider stand-ins and point every provider at them",
    )


def _populate(subparsers: Any) -> None:
    check = subparsers.add_parser(
        "check", help="verify configuration and credentials of every configured provider"
    )
    _common(check)
    check.set_defaults(func=run_check)
    send = subparsers.add_parser("send", help="send one message through one provider")
    send.add_argument("provider", choices=[*PROVIDERS, SMS_GROUP, "log"])
    send.add_argument("--to", required=True, metavar="ADDRESS", help="phone, UserID or OpenID")
    send.add_argument("--text", required=True)
    send.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="template parameter"
    )
    send.add_argument(
        "--format",
        default="text",
        choices=["text", "markdown", "textcard", "template", "subscription"],
    )
    send.add_argument("--title")
    send.add_argument("--url")
    send.add_argument("--template", help="override the configured template code / id")
    send.add_argument("--reference", help="attempt id carried to the provider")
    _common(send)
    send.set_defaults(func=run_send)


def add_commands(subparsers: Any) -> None:
    """Add ``adapters check|send`` to the hub CLI's argparse subparsers."""
    parser = subparsers.add_parser("adapters", help="SMS and WeChat delivery providers")
    _populate(parser.add_subparsers(dest="adapters_command", required=True, metavar="COMMAND"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m adapters", description="Check and try the SMS and WeChat providers."
    )
    _populate(parser.add_subparsers(dest="adapters_command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line, not a traceback
        print(f"{parser.prog}: error: {type(exc).__name__}: {mask_text(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    return result


def run_check(
    args: argparse.Namespace,
    *_context: object,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    return asyncio.run(_with_config(args, _check, out or sys.stdout, err or sys.stderr))


def run_send(
    args: argparse.Namespace,
    *_context: object,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    return asyncio.run(_with_config(args, _send, out or sys.stdout, err or sys.stderr))


def _file_values(path: str | None) -> Mapping[str, object]:
    if path is None:
        return {}
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file {path} is not valid TOML: {exc}") from exc


async def _with_config(args: argparse.Namespace, command: Any, out: TextIO, err: TextIO) -> int:
    # The commands print what each provider answered; the adapters' own warnings
    # ("send via ... failed: ...") would say it a second time on stderr.
    logging.getLogger("adapters").setLevel(logging.ERROR)
    standins: Standins | None = None
    try:
        if args.sandbox:
            standins = await start_standins()
            config = standins.config()
            print("sandbox: provider stand-ins running on 127.0.0.1", file=err)
        else:
            config = load_config(os.environ, _file_values(args.config))
        result: int = await command(args, config, out, err)
        return result
    except ConfigurationError as error:
        print(f"configuration error: {error.message}", file=err)
        return EXIT_CONFIG
    finally:
        if standins is not None:
            await standins.close()


async def _check(args: argparse.Namespace, config: AdaptersConfig, out: TextIO, err: TextIO) -> int:
    adapters = build_adapters(config)
    configured = config.configured()
    failed = 0
    try:
        for name in PROVIDERS:
            if name not in configured:
                print(f"{name:<12} not configured ({_FAMILY_HINT[name]} unset)", file=out)
                continue
            result = await adapters[name].check()
            failed += not result.ok
            verdict = "OK" if result.ok else "FAILED"
            print(f"{name:<12} {verdict:<7} {mask_text(result.detail)}", file=out)
    finally:
        await aclose_all(adapters)
    if not configured:
        print("no provider is configured; set HUB_* variables or use --sandbox", file=err)
        return EXIT_FAILED
    return EXIT_FAILED if failed else EXIT_OK


def _params(pairs: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"--param expects K=V, got {pair!r}")
        params[key] = value
    return params


async def _send(args: argparse.Namespace, config: AdaptersConfig, out: TextIO, err: TextIO) -> int:
    adapters = build_adapters(config)
    try:
        adapter = adapters.get(args.provider)
        if adapter is None:
            hint = _FAMILY_HINT.get(args.provider, "")
            print(f"configuration error: {args.provider} is not configured (set {hint})", file=err)
            return EXIT_CONFIG
        message = Message(
            text=args.text,
            params=_params(args.param),
            title=args.title,
            url=args.url,
            format=args.format,
            template=args.template,
            reference=args.reference,
        )
        try:
            result = await adapter.send(args.to, message)
        except AdapterError as error:
            print(f"refused: {mask_text(error.describe())}", file=err)
            return EXIT_FAILED
        print(f"accepted by {result.provider}: message id {result.message_id}", file=out)
        print(f"provider answer: {mask_text(orjson.dumps(dict(result.raw)).decode())}", file=out)
        return EXIT_OK
    finally:
        await aclose_all(adapters)
