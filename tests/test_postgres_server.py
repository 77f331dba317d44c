"""The private PostgreSQL server the suite runs against (tests/postgres.py)."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.postgres import PostgresServer, find_binaries


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = PostgresServer.start(tmp_path_factory.mktemp("pg"))
    yield server
    server.stop()


def test_binaries_found() -> None:
    assert (find_binaries() / "initdb").is_file() and (find_binaries() / "postgres").is_file()


async def test_url_is_a_plain_tcp_login(pg: PostgresServer) -> None:
    url = urlsplit(pg.url("postgres"))
    assert (url.scheme, url.hostname, url.port, url.path) == ("postgresql", "127.0.0.1", pg.port, "/postgres")
    assert (url.username, url.password) == (pg.user, pg.password) == ("bot", pg.password)
    conn = await asyncpg.connect(
        host=url.hostname, port=url.port, user=url.username, password=url.password, database="postgres"
    )
    try:
        assert await conn.fetchval("SELECT current_user") == "bot"
        assert await conn.fetchval("SHOW fsync") == "off"
    finally:
        await conn.close()


async def test_data_dir_belongs_to_the_server(pg: PostgresServer) -> None:
    st = pg.data_dir.stat()
    assert stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == os.stat(f"/proc/{pg.pid}").st_uid
    assert st.st_uid != 0


async def test_databases_are_separate(pg: PostgresServer) -> None:
    urls = [await pg.create_database("alpha"), await pg.create_database("beta")]
    assert urls == [pg.url("alpha"), pg.url("beta")]
    a, b = [await asyncpg.connect(url) for url in urls]
    try:
        await a.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
        assert await a.fetchval("SELECT current_database()") == "alpha"
        assert await b.fetchval("SELECT current_database()") == "beta"
        assert await b.fetchval("SELECT to_regclass('t')") is None
    finally:
        await a.close()
        await b.close()


async def test_wrong_password_is_refused(pg: PostgresServer) -> None:
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(host="127.0.0.1", port=pg.port, user=pg.user, password="not-" + pg.password)


async def test_copied_binaries_and_stop(tmp_path: Path) -> None:
    server = PostgresServer.start(tmp_path, copy_binaries=True)
    try:
        assert not server.bin_dir.is_relative_to(find_binaries().parent)
        conn = await asyncpg.connect(server.url())
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
    finally:
        server.stop()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", server.port)) != 0
    assert not server.bin_dir.exists()
    server.stop()
