"""The web page (issue 8): static files served by the hub at ``/`` and the small
HTTP API the page needs (``/api/web/*``, and ``/api/demo/*`` in demo mode).
See docs/web.md."""

from __future__ import annotations

from channels.directory.service import Directory
from channels.web.api import WebApi
from channels.web.assets import Assets, nosniff
from channels.web.openapi import demo_paths, web_paths
from hub.bootstrap import Runtime

__all__ = ["install_web"]


def install_web(runtime: Runtime, directory: Directory, *, demo: bool = False) -> None:
    """Add the page (``/``, ``/static/…``) and its API routes to ``runtime.app``."""
    Assets().add_routes(runtime.app)
    runtime.app.on_response_prepare.append(nosniff)
    WebApi(directory, runtime.verifier, demo=demo).add_routes(runtime.app)
    runtime.openapi.add(web_paths())
    if demo:
        runtime.openapi.add(demo_paths())
