"""Typed reads of one provider's configuration values (``HUB_<FAMILY>_<FIELD>``).

``adapters.config`` collects a provider's values into a mapping (field name
lower-cased → text, or ``Secret`` for secret fields); each provider's
``config.py`` turns that mapping into its configuration dataclass with these.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ConfigurationError
from ..masking import Secret

__all__ = ["Values", "integer", "optional_secret", "secret", "text"]

Values = Mapping[str, str | Secret]


def text(values: Values, key: str) -> str:
    value = values[key]
    assert isinstance(value, str)
    return value


def secret(values: Values, key: str) -> Secret:
    value = values[key]
    assert isinstance(value, Secret)
    return value


def optional_secret(values: Values, key: str) -> Secret | None:
    value = values.get(key)
    return value if isinstance(value, Secret) else None


def integer(provider: str, name: str, value: str) -> int:
    """``value`` as an int; ``name`` (the setting) is named in the error."""
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(
            f"{name} must be an integer, got {value!r}", provider=provider, code="not_integer"
        ) from None
