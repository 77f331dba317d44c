"""A start that fails ends with one line naming the cause and the setting to check, never a traceback.

Each test runs the real bot (python -m bot) with a minimal environment. Nothing leaves the machine: the
unreachable hosts are a closed port on 127.0.0.1, a plain-HTTP port spoken to over TLS, and a name under
.invalid, which never resolves.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import pytest

from tests.helpers import FAL_KEY, REPO

TIMEOUT = 30


def start_env(
    tmp: Path,
    api_base: str,
    *,
    token: str = "test-discord-token",
    gateway: str = "ws://127.0.0.1:9/gateway",
    database: Path | None = None,
) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp),
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
        "DISCORD_TOKEN": token,
        "FAL_KEY": FAL_KEY,
        "DATABASE_URL": f"sqlite:///{database or tmp / 'bot.db'}",
        "DISCORD_API_BASE": api_base,
        "DISCORD_GATEWAY_URL": gateway,
        "LOG_LEVEL": "DEBUG",
    }


async def start_bot(env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run python -m bot until it exits; its exit code and stderr. (Async: the Discord stand-in answers meanwhile.)"""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, cwd=cwd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    except TimeoutError:
        proc.kill()
        _, err = await proc.communicate()
        pytest.fail(f"the bot was still running after {TIMEOUT} s; its stderr:\n{err.decode(errors='replace')}")
    return proc.returncode, err.decode(errors="replace")


def one_line_error(code: int, err: str, expected_code: int, *named: str) -> str:
    """Check the shape every failed start shares, and that the line names what it should; the line."""
    lines = err.strip().splitlines()
    assert code == expected_code, err
    assert "Traceback" not in err and "Unclosed" not in err, err
    assert lines and lines[-1].startswith("Error: "), err
    assert [line for line in lines if line.startswith("Error")] == [lines[-1]], err
    for text in named:
        assert text in lines[-1], lines[-1]
    return lines[-1]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- Discord unreachable


async def test_connection_refused_names_the_api_base_and_host(tmp_path):
    port = closed_port()
    code, err = await start_bot(start_env(tmp_path, f"http://127.0.0.1:{port}/api/v10"), tmp_path)
    one_line_error(code, err, 1, "DISCORD_API_BASE", f"127.0.0.1:{port}", "Connection refused")


async def test_a_name_that_does_not_resolve_names_the_api_base_and_host(tmp_path):
    code, err = await start_bot(start_env(tmp_path, "http://discord.invalid/api/v10"), tmp_path)
    one_line_error(code, err, 1, "DISCORD_API_BASE", "discord.invalid", "does not resolve")


async def test_a_tls_failure_names_the_api_base_and_host(tmp_path):
    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")  # not the TLS handshake asked for
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        code, err = await start_bot(start_env(tmp_path, f"https://127.0.0.1:{port}/api/v10"), tmp_path)
    finally:
        server.close()
        await server.wait_closed()
    one_line_error(code, err, 1, "DISCORD_API_BASE", f"127.0.0.1:{port}", "TLS")


@pytest.mark.parametrize("api_base", ["not a url", "ftp://x", "http://[::1"])
async def test_a_malformed_api_base_is_refused_before_starting(tmp_path, api_base):
    code, err = await start_bot(start_env(tmp_path, api_base), tmp_path)
    one_line_error(code, err, 2, "DISCORD_API_BASE", api_base)
    assert not (tmp_path / "bot.db").exists()  # refused before anything was opened


# ---- the token, and the database (both reached through the Discord stand-in)


async def test_a_rejected_token_names_discord_token(discord_standin, tmp_path):
    env = start_env(
        tmp_path, discord_standin.api_base, token="not-the-stand-in-token", gateway=discord_standin.gateway_url
    )
    code, err = await start_bot(env, tmp_path)
    one_line_error(code, err, 1, "DISCORD_TOKEN")
    assert "not-the-stand-in-token" not in err  # the log masks it, as it does the right one
    # The stand-in records the 401 it answered as a violation: here it is the point of the test.
    (refused,) = discord_standin.violations
    assert refused.startswith("GET /users/@me") and "(401" in refused, refused
    discord_standin.violations.clear()


@pytest.mark.parametrize("where", ["parent is a file", "is a folder", "not a database"])
async def test_a_database_that_cannot_be_opened_names_database_url_and_the_path(discord_standin, tmp_path, where):
    (tmp_path / "file.txt").write_text("a file, not a folder\n")
    (tmp_path / "folder.db").mkdir()
    (tmp_path / "text.db").write_text("not SQLite\n" * 100)
    database = {
        "parent is a file": tmp_path / "file.txt" / "bot.db",
        "is a folder": tmp_path / "folder.db",
        "not a database": tmp_path / "text.db",
    }[where]
    env = start_env(
        tmp_path,
        discord_standin.api_base,
        token=discord_standin.token,
        gateway=discord_standin.gateway_url,
        database=database,
    )
    code, err = await start_bot(env, tmp_path)
    one_line_error(code, err, 1, "DATABASE_URL", str(database))
    assert discord_standin.identifies == 0  # it stopped in setup, before connecting to the gateway


@pytest.mark.parametrize("problem", ["wrong password", "no such database", "nothing listening"])
async def test_a_postgresql_database_that_cannot_be_opened_says_why_without_the_password(
    discord_standin, pg_server, tmp_path, problem
):
    url = {
        "wrong password": pg_server.url("postgres").replace(pg_server.password, "not-the-password"),
        "no such database": pg_server.url("no_such_database"),
        "nothing listening": f"postgresql://bot:secret-pw@127.0.0.1:{closed_port()}/bot",
    }[problem]
    env = start_env(
        tmp_path, discord_standin.api_base, token=discord_standin.token, gateway=discord_standin.gateway_url
    )
    env["DATABASE_URL"] = url
    code, err = await start_bot(env, tmp_path)
    why = {
        "wrong password": "the server refused the user name or password",
        "no such database": "that database does not exist on the server",
        "nothing listening": "nothing accepts connections at that host and port",
    }[problem]
    line = one_line_error(code, err, 1, "DATABASE_URL", why)
    assert "***@" in line and "not-the-password" not in err and "secret-pw" not in err and pg_server.password not in err
    assert discord_standin.identifies == 0


async def test_a_second_bot_on_the_same_sqlite_file_is_refused_and_the_first_keeps_working(bot, discord_standin):
    env = dict(bot.env, LOG_LEVEL="INFO")
    code, err = await start_bot(env, bot.log_path.parent)
    line = one_line_error(code, err, 1, "DATABASE_URL", "another bot process is using it", "postgresql://")
    assert "bot.db" in line
    interaction = await discord_standin.send_command("jobs", subcommand="list")
    await discord_standin.wait_for(lambda: interaction.callbacks, timeout=15)  # the first one still answers
    assert "Your jobs" in interaction.callbacks[0][1]["data"]["content"]


async def test_a_worker_needs_postgresql(tmp_path):
    env = start_env(tmp_path, "http://127.0.0.1:9/api/v10")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "worker", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    line = one_line_error(proc.returncode, err.decode(), 2, "DATABASE_URL=postgresql://")
    assert "worker" in line
