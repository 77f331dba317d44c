"""Settings from the environment or .env (see .env.example for every one)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlsplit, urlunsplit

from dotenv import load_dotenv

from bot import links, provenance
from bot.jobs.moderation import parse_words

DEFAULT_API_BASE = "https://discord.com/api/v10"
DEFAULT_DATABASE_URL = "sqlite:///data/bot.db"
DEFAULT_MAX_RUNNING_JOBS = 100
DEFAULT_TAKEOVER_SECONDS = 30.0
DEFAULT_AUDIT_RETENTION_DAYS = 90
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
INPUT_HOSTING = ("fal", "passthrough")


class SettingsError(ValueError):
    pass


def load_env_file(path: Path | None = None) -> None:
    """Read .env from the working directory; real environment variables win."""
    load_dotenv(path or Path.cwd() / ".env", override=False)


@dataclass(frozen=True)
class Database:
    """Where jobs live: an SQLite file (one process) or a PostgreSQL server that several processes share."""

    url: str = field(repr=False)
    path: Path | None = None  # the SQLite file; None for PostgreSQL

    @property
    def shared(self) -> bool:
        return self.path is None

    @property
    def shown(self) -> str:
        """The URL without its password."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        netloc = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit((parts.scheme, f"{parts.username}:***@{netloc}", parts.path, parts.query, parts.fragment))

    @property
    def password(self) -> str | None:
        return urlsplit(self.url).password

    def __repr__(self) -> str:
        return f"Database({self.shown!r})"


POSTGRES_SCHEMES = ("postgresql", "postgres")
DATABASE_EXAMPLES = (
    "sqlite:///data/bot.db (relative), sqlite:////abs/path/bot.db, or postgresql://user:password@host:5432/dbname"
)


def parse_database(url: str) -> Database:
    """sqlite:///relative/path.db, sqlite:////absolute/path.db, or postgresql://user:password@host:port/dbname
    (postgres:// too)."""
    try:
        parsed = urlsplit(url)
        _ = parsed.port  # raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        raise SettingsError(f"DATABASE_URL is not a valid URL; use {DATABASE_EXAMPLES}") from None
    if parsed.scheme == "sqlite":
        if parsed.netloc or not parsed.path.startswith("/") or len(parsed.path) < 2:
            raise SettingsError(f"DATABASE_URL '{url}' is not a valid SQLite URL; use {DATABASE_EXAMPLES}")
        return Database(url, Path(parsed.path[1:]))  # "/data/bot.db" → relative; "//abs/bot.db" → "/abs/bot.db"
    if parsed.scheme in POSTGRES_SCHEMES:
        if not parsed.hostname and "host=" not in parsed.query:
            raise SettingsError(f"DATABASE_URL names no PostgreSQL host; use {DATABASE_EXAMPLES}")
        if not parsed.path.strip("/"):
            raise SettingsError(f"DATABASE_URL names no database (the /dbname at its end); use {DATABASE_EXAMPLES}")
        return Database(url)
    shown = Database(url).shown
    raise SettingsError(f"DATABASE_URL '{shown}' is neither SQLite nor PostgreSQL; use {DATABASE_EXAMPLES}")


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...], example: str, problems: list[str]) -> str | None:
    """A URL setting, refused here when malformed: later it would fail as a traceback from deep inside aiohttp."""
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        parsed = urlparse(text)
        _ = parsed.port  # raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        parsed = None
    if parsed is None or parsed.scheme not in schemes or not parsed.hostname or any(c.isspace() for c in text):
        problems.append(
            f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)} "
            f"such as {example}, not '{text}'"
        )
        return None
    return text


@dataclass(frozen=True)
class Settings:
    discord_token: str
    fal_key: str
    discord_api_base: str = DEFAULT_API_BASE
    discord_gateway_url: str | None = None
    discord_guild_id: int | None = None
    database: Database = field(default_factory=lambda: Database(DEFAULT_DATABASE_URL, Path("data/bot.db")))
    input_hosting: str = "fal"
    private_link_hosts: frozenset[str] = frozenset()  # hosts on a private network links may name (fal hosting)
    log_level: str = "INFO"
    max_running_jobs: int = DEFAULT_MAX_RUNNING_JOBS
    daily_budget_usd: float | None = None
    # A member's limits where no server's settings apply (the app installed to their account, used in DMs or in
    # servers that never added the bot).
    user_running_jobs: int = 2
    user_waiting_jobs: int = 5
    user_daily_jobs: int = 20
    # Running as a cluster (processes sharing one PostgreSQL database).
    shard_count: int | None = None  # None: the count Discord recommends
    shard_ids: tuple[int, ...] | None = None  # the shards this process connects; None: all of them
    work_jobs: bool = True  # a gateway process also works jobs (python -m bot worker always does)
    takeover_seconds: float = DEFAULT_TAKEOVER_SECONDS  # a silent process's jobs are taken over within this
    health_port: int | None = None  # serve /healthz and /metrics on this port; None: off
    # Moderation, everywhere (BLOCKED_USERS) and where no server's settings apply (DMs, user installs).
    blocked_users: frozenset[int] = frozenset()
    blocked_words: tuple[str, ...] = ()
    moderation_channel_id: int | None = None  # reports from DMs and user installs; None: DM the bot's owner
    # The content-credentials signer (C2PA_CERT and C2PA_KEY, checked); None: the bot's own, kept in the store.
    c2pa: provenance.Credentials | None = field(default=None, repr=False)
    audit_retention_days: int = DEFAULT_AUDIT_RETENTION_DAYS  # audit records older than this are deleted
    voice_cloning: bool = False  # members may clone voices where no server's settings apply (DMs, user installs)

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        return (
            f"Settings(api_base={self.discord_api_base!r}, guild={self.discord_guild_id}, db={self.database.shown!r}, "
            f"input_hosting={self.input_hosting!r}, max_running_jobs={self.max_running_jobs}, "
            f"daily_budget_usd={self.daily_budget_usd})"
        )


def _number(
    env: Mapping[str, str],
    name: str,
    kind: type[int] | type[float],
    problems: list[str],
    *,
    minimum: float,
    default: float | None,
) -> float | None:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < minimum:
        problems.append(
            f"{name} must be a {'whole ' if kind is int else ''}number of at least {minimum:g}, not '{text}'"
        )
        return default
    return value


def _ids(env: Mapping[str, str], name: str, problems: list[str]) -> list[int]:
    """Comma-separated Discord ids (user or channel snowflakes)."""
    ids = []
    for part in env.get(name, "").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isascii() or not part.isdigit() or len(part) > 20:
            problems.append(f"{name} must be Discord ids (digits) separated by commas, not '{part[:40]}'")
            continue
        ids.append(int(part))
    return ids


def _flag(env: Mapping[str, str], name: str, default: bool, problems: list[str]) -> bool:
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text in TRUE + FALSE:
        return text in TRUE
    problems.append(f"{name} must be true or false, not '{text}'")
    return default


def _shards(env: Mapping[str, str], problems: list[str]) -> tuple[int | None, tuple[int, ...] | None]:
    count = _number(env, "SHARD_COUNT", int, problems, minimum=1, default=None)
    text = env.get("SHARD_IDS", "").strip()
    if not text:
        return (int(count) if count else None), None
    try:
        ids = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        problems.append(f"SHARD_IDS must be shard numbers separated by commas, such as 0,1, not '{text}'")
        return None, None
    if count is None:
        problems.append("SHARD_IDS needs SHARD_COUNT (the total number of shards) beside it")
    elif not ids or ids[0] < 0 or ids[-1] >= count:
        problems.append(
            f"SHARD_IDS must be numbers from 0 to {int(count) - 1} (SHARD_COUNT={int(count)}), not '{text}'"
        )
    return (int(count) if count else None), ids


def _hosts(env: Mapping[str, str], problems: list[str]) -> frozenset[str]:
    """PRIVATE_LINK_HOSTS: host names or addresses, separated by commas, in the form links are judged in."""
    hosts = set()
    for part in env.get("PRIVATE_LINK_HOSTS", "").split(","):
        if not part.strip():
            continue
        key = links.host_key(part)
        if not links.valid_host(key):
            problems.append(
                f"PRIVATE_LINK_HOSTS must be host names or addresses separated by commas (no https://, no port), "
                f"not '{part.strip()}'"
            )
        hosts.add(key)
    return frozenset(hosts)


def audit_retention_days(env: Mapping[str, str] | None = None) -> int:
    """AUDIT_RETENTION_DAYS alone (the CLI's audit needs no tokens); SettingsError when malformed."""
    problems: list[str] = []
    env = os.environ if env is None else env
    days = _number(env, "AUDIT_RETENTION_DAYS", int, problems, minimum=1, default=DEFAULT_AUDIT_RETENTION_DAYS)
    if problems:
        raise SettingsError("; ".join(problems))
    return int(days or DEFAULT_AUDIT_RETENTION_DAYS)


def _c2pa(env: Mapping[str, str], problems: list[str]) -> provenance.Credentials | None:
    """C2PA_CERT and C2PA_KEY (paths to PEM files), both or neither, read and tried on a tiny file at start."""
    cert, key = env.get("C2PA_CERT", "").strip(), env.get("C2PA_KEY", "").strip()
    if not cert and not key:
        return None
    if not cert or not key:
        problems.append(
            f"C2PA_CERT and C2PA_KEY go together: set both (PEM files) or neither (the bot makes its own signer); "
            f"only {'C2PA_CERT' if cert else 'C2PA_KEY'} is set"
        )
        return None
    try:
        return provenance.load_files(Path(cert), Path(key))
    except provenance.CredentialsError as exc:
        problems.append(str(exc))
        return None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    problems = [f"{name} is not set" for name in ("DISCORD_TOKEN", "FAL_KEY") if not env.get(name, "").strip()]
    hosting = env.get("INPUT_HOSTING", "fal").strip().lower() or "fal"
    if hosting not in INPUT_HOSTING:
        problems.append(f"INPUT_HOSTING must be fal or passthrough, not '{hosting}'")
    guild = env.get("DISCORD_GUILD_ID", "").strip()
    if guild and not guild.isdigit():
        problems.append(f"DISCORD_GUILD_ID must be a server id (digits), not '{guild}'")
    try:
        db = parse_database(env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL)
    except SettingsError as exc:
        problems.append(str(exc))
        db = Database(DEFAULT_DATABASE_URL)
    max_running = _number(env, "MAX_RUNNING_JOBS", int, problems, minimum=1, default=DEFAULT_MAX_RUNNING_JOBS)
    api_base = _url(env, "DISCORD_API_BASE", ("http", "https"), DEFAULT_API_BASE, problems)
    gateway = _url(env, "DISCORD_GATEWAY_URL", ("ws", "wss"), "wss://gateway.discord.gg/", problems)
    budget = _number(env, "DAILY_BUDGET_USD", float, problems, minimum=0, default=None)
    personal = {
        name: _number(env, name.upper(), int, problems, minimum=minimum, default=default)
        for name, minimum, default in (
            ("user_running_jobs", 1, 2),
            ("user_waiting_jobs", 0, 5),
            ("user_daily_jobs", 1, 20),
        )
    }
    shard_count, shard_ids = _shards(env, problems)
    work_jobs = _flag(env, "WORK_JOBS", True, problems)
    voice_cloning = _flag(env, "VOICE_CLONING", False, problems)
    private_hosts = _hosts(env, problems)
    takeover = _number(env, "TAKEOVER_SECONDS", float, problems, minimum=1, default=DEFAULT_TAKEOVER_SECONDS)
    health_port = _number(env, "HEALTH_PORT", int, problems, minimum=1, default=None)
    retention = _number(env, "AUDIT_RETENTION_DAYS", int, problems, minimum=1, default=DEFAULT_AUDIT_RETENTION_DAYS)
    if health_port is not None and health_port > 65535:
        problems.append(f"HEALTH_PORT must be a port from 1 to 65535, not '{int(health_port)}'")
    c2pa = _c2pa(env, problems)
    blocked_users = _ids(env, "BLOCKED_USERS", problems)
    moderation_channel = _ids(env, "MODERATION_CHANNEL_ID", problems)
    if len(moderation_channel) > 1:
        problems.append("MODERATION_CHANNEL_ID must be one channel id")
    if problems:
        raise SettingsError("; ".join(problems) + " (copy .env.example to .env and fill it in)")
    return Settings(
        discord_token=env["DISCORD_TOKEN"].strip(),
        fal_key=env["FAL_KEY"].strip(),
        discord_api_base=(api_base or DEFAULT_API_BASE).rstrip("/"),
        discord_gateway_url=gateway,
        discord_guild_id=int(guild) if guild else None,
        database=db,
        input_hosting=hosting,
        private_link_hosts=private_hosts,
        log_level=env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO",
        max_running_jobs=int(max_running or DEFAULT_MAX_RUNNING_JOBS),
        daily_budget_usd=budget,
        **{name: int(value or 0) for name, value in personal.items()},
        shard_count=shard_count,
        shard_ids=shard_ids,
        work_jobs=work_jobs,
        takeover_seconds=float(takeover or DEFAULT_TAKEOVER_SECONDS),
        health_port=int(health_port) if health_port else None,
        blocked_users=frozenset(blocked_users),
        blocked_words=parse_words(env.get("BLOCKED_WORDS", "")),
        moderation_channel_id=next(iter(moderation_channel), None),
        audit_retention_days=int(retention or DEFAULT_AUDIT_RETENTION_DAYS),
        c2pa=c2pa,
        voice_cloning=voice_cloning,
    )
