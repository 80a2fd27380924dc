"""Fixtures for the connector tests: a real, throwaway PostgreSQL server (see pgserver.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.connectors.pgserver import PostgresServer, ServerUnavailable, find_bin_dir, start_server

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of our own on 127.0.0.1, started once per test session.

    Skips (with the reason) only when the server binaries are not installed; any other failure to
    start is an error, not a skip.
    """
    try:
        find_bin_dir()
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_database(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server; its name. Dropped after the test."""
    name = f"northstar_{next(_databases)}"
    pg_server.create_database(name)
    try:
        yield name
    finally:
        pg_server.drop_database(name)
