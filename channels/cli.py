"""The composition root: the ``hub`` console script. It wires the engine (hub),
the domain (channels) and the delivery adapters (adapters) together — the one
place allowed to know all three."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hub.bootstrap import Extension
from hub.cli import SubParsers
from hub.cli import main as hub_main
from hub.config import Settings

__all__ = ["main"]


def _extensions(settings: Settings, args: argparse.Namespace) -> Sequence[Extension]:
    import os

    from channels.alerts.settings import load_escalation_settings
    from channels.app import DomainExtension

    return [
        DomainExtension(
            settings,
            demo=bool(getattr(args, "demo", False)),
            sandbox=bool(getattr(args, "sandbox_providers", False)),
            escalation=load_escalation_settings(settings.file_values, os.environ, args),
        )
    ]


def _add_commands(sub: SubParsers) -> None:
    sub.choices["serve"].add_argument(
        "--sandbox-providers",
        action="store_true",
        help="send SMS and WeChat to local stand-ins of every provider (signatures checked, "
        "delivery reports sent back); nothing leaves the machine",
    )
    from channels.alerts.settings import add_escalation_arguments

    add_escalation_arguments(sub.choices["serve"])
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
