"""Settings parsing: small pure functions. (The media checks are in test_media.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings, parse_database

BASE = {"DISCORD_TOKEN": "t0ken", "FAL_KEY": "k3y"}


def test_database_url_takes_the_usual_sqlite_and_postgresql_forms():
    assert parse_database("sqlite:///data/bot.db").path == Path("data/bot.db")
    assert parse_database("sqlite:////var/lib/bot/bot.db").path == Path("/var/lib/bot/bot.db")
    for url in ("postgresql://bot:s3cret@db.internal:5432/lipsync", "postgres://bot@10.0.0.5/lipsync"):
        database = parse_database(url)
        assert database.shared and database.path is None and database.url == url
    shown = parse_database("postgresql://bot:s3cret@db:5432/lipsync")
    assert shown.shown == "postgresql://bot:***@db:5432/lipsync" and "s3cret" not in repr(shown)
    assert shown.password == "s3cret"
    for bad, why in (
        ("mysql://db/x", "neither SQLite nor PostgreSQL"),
        ("sqlite://host/x.db", "not a valid SQLite URL"),
        ("data/bot.db", "neither SQLite nor PostgreSQL"),
        ("sqlite:///", "not a valid SQLite URL"),
        ("postgresql://bot:pw@db:99999/x", "not a valid URL"),
        ("postgresql://bot:pw@db:5432", "names no database"),
        ("postgresql:///lipsync", "names no PostgreSQL host"),
    ):
        with pytest.raises(SettingsError, match=why) as caught:
            parse_database(bad)
        assert "postgresql://user:password@host:5432/dbname" in str(caught.value) and "pw" not in str(caught.value)


def test_missing_secrets_are_named_together():
    with pytest.raises(SettingsError) as caught:
        load_settings({})
    assert "DISCORD_TOKEN is not set" in str(caught.value) and "FAL_KEY is not set" in str(caught.value)


def test_defaults_and_overrides():
    s = load_settings(BASE)
    assert s.discord_api_base == "https://discord.com/api/v10" and s.input_hosting == "fal"
    assert s.database.path == Path("data/bot.db") and s.discord_guild_id is None
    s = load_settings(
        BASE
        | {
            "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10/",
            "INPUT_HOSTING": "passthrough",
            "DISCORD_GUILD_ID": "123",
            "DATABASE_URL": "sqlite:////tmp/x.db",
        }
    )
    assert s.discord_api_base == "http://127.0.0.1:9/api/v10" and s.input_hosting == "passthrough"
    assert s.discord_guild_id == 123 and s.database.path == Path("/tmp/x.db")


def test_bad_values_say_what_is_accepted():
    with pytest.raises(SettingsError, match="fal or passthrough"):
        load_settings(BASE | {"INPUT_HOSTING": "s3"})
    with pytest.raises(SettingsError, match="digits"):
        load_settings(BASE | {"DISCORD_GUILD_ID": "my-server"})


@pytest.mark.parametrize(
    "bad", ["not a url", "ftp://x", "http://[::1", "http:///api", "http://x:99999/api", "http://disc ord.com/api"]
)
def test_a_malformed_api_base_is_refused_by_name(bad):
    with pytest.raises(SettingsError, match="DISCORD_API_BASE must be a URL starting with http:// or https://"):
        load_settings(BASE | {"DISCORD_API_BASE": bad})


def test_a_malformed_gateway_url_is_refused_by_name():
    with pytest.raises(SettingsError, match="DISCORD_GATEWAY_URL must be a URL starting with ws:// or wss://"):
        load_settings(BASE | {"DISCORD_GATEWAY_URL": "https://gateway.discord.gg"})
    assert (
        load_settings(BASE | {"DISCORD_GATEWAY_URL": "ws://127.0.0.1:1/gateway"}).discord_gateway_url
        == "ws://127.0.0.1:1/gateway"
    )


def test_secrets_stay_out_of_repr():
    assert "t0ken" not in repr(load_settings(BASE)) and "k3y" not in repr(load_settings(BASE))
