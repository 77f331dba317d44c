"""Run the real bot (python -m bot, through tests/bootstrap.py) against the stand-ins."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from tests.standins.discord_api import DiscordStandIn


def python_cmd(module: str, *args: str) -> list[str]:
    """Run `module` as `python -m module` would, with the stand-in storage hosts (tests/bootstrap.py)."""
    return [sys.executable, "-m", "tests.bootstrap", module, *args]


class BotProcess:
    """One bot process: `python -m bot` (its `shards` of a sharded bot, or all), or with args=("worker",) a worker,
    which opens no gateway connection."""

    def __init__(
        self, env: dict[str, str], log_path: Path, *, args: tuple[str, ...] = (), shards: list[int] | None = None
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.args = args
        self.shards = shards
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, discord: DiscordStandIn) -> None:
        connections = discord.identifies
        worker = "worker" in self.args
        started = len(self.log.split("running as worker")) - 1
        log = open(self.log_path, "ab")
        self.proc = await asyncio.create_subprocess_exec(
            *python_cmd("bot", *self.args), env=self.env, stdout=log, stderr=log, cwd=self.env["BOT_CWD"]
        )
        log.close()

        def up() -> bool:
            if self.proc is None or self.proc.returncode is not None:
                return True
            if worker:
                return len(self.log.split("running as worker")) - 1 > started
            return discord.identifies > connections

        try:
            await discord.wait_for(up, timeout=30)
        except TimeoutError:
            raise TimeoutError(f"the bot never came up; its log:\n{self.log}") from None
        if self.proc.returncode is not None:
            raise RuntimeError(f"the bot exited with {self.proc.returncode}; its log:\n{self.log}")
        if not worker:
            await discord.wait_ready(shards=self.shards)

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()

    async def kill(self) -> None:
        await self.stop(signal.SIGKILL)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def bot_env(base: dict[str, str], discord: DiscordStandIn, tmp: Path, **extra: str) -> dict[str, str]:
    env = dict(base)
    env.update(
        DISCORD_TOKEN=discord.token,
        DISCORD_API_BASE=discord.api_base,
        DISCORD_GATEWAY_URL=discord.gateway_url,
        DISCORD_GUILD_ID=str(discord.guild_id),
        DATABASE_URL=f"sqlite:///{tmp / 'bot.db'}",
        LOG_LEVEL="DEBUG",
        BOT_CWD=str(tmp),
    )
    env.update(extra)
    return env


def secrets_in(text: str, *secrets: str) -> list[str]:
    return [s[:6] + "…" for s in secrets if s and s in text]
