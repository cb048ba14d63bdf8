"""Request signing for the providers, pure functions without I/O."""

from __future__ import annotations

from .common import percent_encode, sha256_hex

__all__ = ["percent_encode", "sha256_hex"]
