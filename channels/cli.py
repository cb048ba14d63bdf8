"""The composition root: the ``hub`` console script. It wires the engine (hub),
the domain (channels) and the delivery adapters (adapters) together — the one
place allowed to know all three."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from hub.bootstrap import Extension
from hub.cli import SubParsers
from hub.cli import main as hub_main
from hub.config import ConfigError, Settings

__all__ = ["main"]


# ``--flag`` → the adapters' setting it overrides (flags win over env and file)
_CALLBACK_FLAGS = {
    "callback_prefix": "HUB_CALLBACK_PREFIX",
    "callback_allow": "HUB_CALLBACK_ALLOW",
    "callback_trusted_proxies": "HUB_CALLBACK_TRUSTED_PROXIES",
}


def _extensions(settings: Settings, args: argparse.Namespace) -> Sequence[Extension]:
    from adapters import AdapterError
    from channels.alerts.settings import load_escalation_settings
    from channels.app import DomainExtension

    env = dict(os.environ)
    for dest, name in _CALLBACK_FLAGS.items():
        value = getattr(args, dest, None)
        if value is not None:
            env[name] = value
    try:
        return [
            DomainExtension(
                settings,
                demo=bool(getattr(args, "demo", False)),
                sandbox=bool(getattr(args, "sandbox_providers", False)),
                adapters_env=env,
                escalation=load_escalation_settings(settings.file_values, os.environ, args),
            )
        ]
    except AdapterError as exc:  # a provider or callback setting the hub cannot use
        raise ConfigError(exc.message) from None


def _add_commands(sub: SubParsers) -> None:
    sub.choices["serve"].add_argument(
        "--sandbox-providers",
        action="store_true",
        help="send SMS and WeChat to local stand-ins of every provider (signatures checked, "
        "delivery reports sent back); nothing leaves the machine",
    )
    serve = sub.choices["serve"]
    serve.add_argument(
        "--callback-prefix",
        metavar="PATH",
        help="secret path the provider callbacks are mounted under, e.g. /callbacks/<secret>; "
        "unset: no callback routes. A secret: prefer the environment or the config file, "
        "a command line shows in ps [HUB_CALLBACK_PREFIX]",
    )
    serve.add_argument(
        "--callback-allow",
        metavar="CIDRS",
        help="comma-separated source networks the provider callbacks are accepted from "
        "(others get 403); unset: any [HUB_CALLBACK_ALLOW]",
    )
    serve.add_argument(
        "--callback-trusted-proxies",
        metavar="CIDRS",
        help="comma-separated proxies whose X-Forwarded-For is believed for "
        "--callback-allow; unset: X-Forwarded-For is ignored [HUB_CALLBACK_TRUSTED_PROXIES]",
    )

    from channels.alerts.settings import add_escalation_arguments

    add_escalation_arguments(serve)
    _add_adapter_commands(sub)
    p = sub.add_parser("openapi", help="print the server API's OpenAPI document")
    p.set_defaults(func=_openapi)


def _openapi(args: argparse.Namespace, make_extensions: object) -> int:
    """Print the server API's OpenAPI document (what ``GET /api/openapi.json`` serves)."""
    import json
    import tempfile

    from channels.app import DomainExtension
    from hub.bootstrap import Runtime
    from hub.config import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        env = {"HUB_DATA_DIR": tmp, "HUB_TOKEN_SECRET": "x" * 32, "HUB_API_KEY": "x"}
        settings = load_settings(None, env)
        runtime = Runtime(settings, [DomainExtension(settings, adapters_env={})])
        doc = runtime.openapi.document()
    print(json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True))
    return 0


def _add_adapter_commands(sub: SubParsers) -> None:
    try:
        from adapters.cli import add_commands
    except ImportError:  # pragma: no cover - adapters ship with the distribution
        return
    add_commands(sub)


def main(argv: Sequence[str] | None = None) -> int:
    return hub_main(argv, make_extensions=_extensions, add_commands=_add_commands)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
