"""Micro-benchmark of the hub's fan-out in user space: one publication to N local
subscribers whose transports only count bytes (no kernel write), so the figure is
the Python cost per delivery that the hub adds on top of the write syscall.

    python -m bench.micro [--subscribers 1000] [--publishes 2000] [--per-turn 1]

``--per-turn`` publications are fanned out per loop turn (flush), as under load
when several publishes are read in one turn. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from hub.auth import Identity, TokenVerifier
from hub.brokers.memory import MemoryBroker, MemoryPresence
from hub.config import load_settings
from hub.core.authz import Authorizer
from hub.core.local import LocalChannel
from hub.core.node import Node
from hub.core.session import Session, SessionState
from hub.core.types import Publication
from hub.store.sqlite import SqliteStore


class NullTransport:
    """Counts what it is given; never blocks."""

    __slots__ = ("bytes", "writes")

    def __init__(self) -> None:
        self.bytes = 0
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.bytes += len(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        return None


async def run(subscribers: int, publishes: int, per_turn: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, {"HUB_DATA_DIR": tmp, "HUB_TOKEN_SECRET": "x" * 32})
        store = SqliteStore(str(Path(tmp) / "hub.db"))
        broker = MemoryBroker(store)
        node = Node(settings, broker, MemoryPresence(), Authorizer(), TokenVerifier("x" * 32))
        await node.start()
        channel = "bench:room"
        local = node.channels[channel] = LocalChannel()
        transports = []
        for i in range(subscribers):
            t = NullTransport()
            c = Session(node, t)  # type: ignore[arg-type]
            c.identity = Identity(f"m{i}")
            c.state = SessionState.OPEN
            c.subs[channel] = None
            local.add(c)
            transports.append(t)
        data = {"t": 0, "seq": 0, "pad": "x" * 150}
        pubs = [Publication(channel, i + 1, "e", 0, "m0", data) for i in range(publishes)]
        start = time.process_time()
        for i in range(0, publishes, per_turn):
            for pub in pubs[i : i + per_turn]:
                node.on_publication(pub)
            node.flush()
        cpu = time.process_time() - start
        node.outbox.cancel()
        await node.shutdown(deadline=0.1)
        deliveries = subscribers * publishes
        writes = sum(t.writes for t in transports)
        return {
            "scenario": "micro-fanout",
            "subscribers": subscribers,
            "publishes": publishes,
            "per_turn": per_turn,
            "user_us_per_delivery": round(cpu / deliveries * 1e6, 3),
            "writes_per_delivery": round(writes / deliveries, 3),
        }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.micro")
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--publishes", type=int, default=2000)
    p.add_argument("--per-turn", type=int, default=1)
    a = p.parse_args()
    print(json.dumps(asyncio.run(run(a.subscribers, a.publishes, a.per_turn))))


if __name__ == "__main__":
    main()
