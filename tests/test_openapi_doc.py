"""docs/openapi.json is what the hub serves at /api/openapi.json (regenerate it with
`.venv/bin/hub openapi > docs/openapi.json`)."""

from __future__ import annotations

import json
from pathlib import Path

from channels.app import DomainExtension
from tests.support.hubs import hub_settings, running_hub

DOC = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


async def test_docs_copy_matches_the_served_document(tmp_path: Path) -> None:
    ext = DomainExtension(hub_settings(tmp_path / "d"), adapters_env={}, escalation_poll=None)
    async with running_hub(tmp_path / "d", extensions=[ext]) as h:
        status, served = await h.api("GET", "/api/openapi.json")
    assert status == 200
    assert served == json.loads(DOC.read_text()), (
        "docs/openapi.json is stale: run `.venv/bin/hub openapi > docs/openapi.json`"
    )
