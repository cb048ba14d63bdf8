"""Fixtures of the engine's tests: the store-parametrized ``database_url``."""

from tests.support.postgres import database_url, postgres_url, session_database_url  # noqa: F401
