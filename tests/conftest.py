"""Shared fixtures: real hubs on free ports with temporary data directories."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.hubs import HubProcess, InProcessHub, running_hub
from tests.support.ws import close_all


@pytest.fixture(autouse=True)
async def _close_ws_clients() -> AsyncIterator[None]:
    yield
    await close_all()


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[InProcessHub]:
    """A hub in the test's event loop (embedded default: memory broker + SQLite)."""
    async with running_hub(tmp_path / "data") as h:
        yield h


@pytest.fixture
def hub_process(tmp_path: Path) -> Iterator[HubProcess]:
    """A `hub serve` subprocess factory-like object; call .start() (and .stop())."""
    p = HubProcess(tmp_path / "data")
    yield p
    if p.proc is not None and p.proc.poll() is None:
        p.kill()
