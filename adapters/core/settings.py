"""A provider's settings are its configuration dataclass.

Each field but ``endpoint`` is one setting ``HUB_<FAMILY>_<FIELD>`` (field name
upper-cased): required when the field has no default, secret when its type is
``Secret``; an ``int`` field is parsed as an integer. ``adapters.config``
collects the values (field name → text, or ``Secret`` for secret fields) and
``build`` makes the dataclass; a missing optional value keeps the field default.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from ..errors import ConfigurationError
from ..masking import Secret

__all__ = ["Setting", "Values", "build", "default_endpoint", "integer", "settings_of"]

Values = Mapping[str, str | Secret]
C = TypeVar("C")


@dataclasses.dataclass(frozen=True, slots=True)
class Setting:
    """One setting: ``HUB_<FAMILY>_<name>``."""

    name: str
    required: bool = True
    secret: bool = False
    integer: bool = False


def settings_of(config_type: type[Any]) -> tuple[Setting, ...]:
    """The settings of a configuration dataclass, in field order, ``endpoint`` left out
    (it is implicit and optional for every provider)."""
    hints = typing.get_type_hints(config_type)
    out = []
    for item in dataclasses.fields(config_type):
        if item.name == "endpoint":
            continue
        hint = hints[item.name]
        required = (
            item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING
        )
        secret = hint is Secret or Secret in typing.get_args(hint)
        out.append(Setting(item.name.upper(), required, secret, hint is int))
    return tuple(out)


def default_endpoint(config_type: type[Any]) -> str:
    """The default of the dataclass's ``endpoint`` field."""
    return str(next(f.default for f in dataclasses.fields(config_type) if f.name == "endpoint"))


def integer(provider: str, name: str, value: str) -> int:
    """``value`` as an int; ``name`` (the setting) is named in the error."""
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(
            f"{name} must be an integer, got {value!r}", provider=provider, code="not_integer"
        ) from None


def build(config_type: type[C], provider: str, prefix: str, values: Values) -> C:
    """The dataclass from the collected ``values`` (``prefix``: ``HUB_<FAMILY>_``)."""
    kwargs: dict[str, object] = {}
    for setting in (*settings_of(config_type), Setting("ENDPOINT", required=False)):
        key = setting.name.lower()
        if key not in values:
            continue
        value = values[key]
        if setting.integer:
            kwargs[key] = integer(provider, prefix + setting.name, str(value))
        else:
            kwargs[key] = value
    return config_type(**kwargs)
