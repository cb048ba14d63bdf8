"""The escalation scheduler's settings: ``HUB_ESCALATION_LEASE`` and
``HUB_ESCALATION_PERIOD``, also ``--escalation-lease`` / ``--escalation-period`` on
``hub serve`` and ``escalation_lease`` / ``escalation_period`` in the TOML file.
Precedence as for the engine's settings: defaults, file, environment, flags."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from hub.config import ConfigError
from hub.numbers import parse_float

__all__ = ["EscalationSettings", "add_escalation_arguments", "load_escalation_settings"]

DEFAULT_LEASE: Final = 120.0
DEFAULT_PERIOD: Final = 1.0
MIN_LEASE: Final = 1.0


@dataclass(frozen=True, slots=True)
class EscalationSettings:
    """``lease``: seconds a scheduler holds a rung without renewing it; after a crash
    another process (or the restarted one) takes the rung over when it runs out.
    ``period``: seconds between scheduler passes."""

    lease: float = DEFAULT_LEASE
    period: float = DEFAULT_PERIOD


_FIELDS: Final = {
    "lease": (
        "escalation_lease",
        "seconds an escalation scheduler holds a rung without renewing it; a crashed "
        "process's rung is taken over after this",
    ),
    "period": ("escalation_period", "seconds between escalation scheduler passes"),
}


def add_escalation_arguments(parser: argparse.ArgumentParser) -> None:
    for attr, (name, help_text) in _FIELDS.items():
        default = getattr(EscalationSettings(), attr)
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            default=None,
            metavar="SECONDS",
            help=f"{help_text} [HUB_{name.upper()}, default {default!r}]",
        )


def _seconds(name: str, raw: object) -> float:
    try:
        if isinstance(raw, bool):
            raise ValueError(raw)
        # ASCII digits only: float() would take "１２０" or "١٢٠"
        value = float(raw) if isinstance(raw, int | float) else parse_float(str(raw).strip())
    except (TypeError, ValueError):
        raise ConfigError(f"HUB_{name.upper()}: cannot use {raw!r} (seconds)") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"HUB_{name.upper()}: must be a positive number of seconds")
    return value


def load_escalation_settings(
    file_values: Mapping[str, Any],
    env: Mapping[str, str],
    args: argparse.Namespace | None = None,
) -> EscalationSettings:
    flags = vars(args) if args is not None else {}
    values: dict[str, float] = {}
    for attr, (name, _) in _FIELDS.items():
        raw: object = None
        if name in file_values:
            raw = file_values[name]
        if f"HUB_{name.upper()}" in env:
            raw = env[f"HUB_{name.upper()}"]
        if flags.get(name) is not None:
            raw = flags[name]
        if raw is not None:
            values[attr] = _seconds(name, raw)
    settings = EscalationSettings(**values)
    if settings.lease < MIN_LEASE:
        raise ConfigError(f"HUB_ESCALATION_LEASE: must be at least {MIN_LEASE:g} s")
    return settings
