"""Command-line front end of the job engine, at parity with the fal-lip-sync skill's scripts.

stdout carries exactly one JSON document (the model's result, or {"request_id", "model"} with
--async); progress goes to stderr; the exit status is 0 on success and 1 with a one-line cause.
`check --as image|audio|video FILE` runs the bot's media check on a file and needs no fal key
(exit 0 with {"kind", "content_type", "seconds"}, 1 when the file is refused, 2 on usage errors).
`audit [--guild ID] [--user ID] [--since YYYY-MM-DD]` prints the bot's audit trail (from DATABASE_URL, as the bot
reads it) as JSON lines, newest first, for the bot's owner; it needs no fal key either.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bot import links, media
from bot.errors import BadInput
from bot.fal import catalog
from bot.fal.catalog import Kind
from bot.fal.errors import FalError
from bot.fal.queue import CancelAnswer, FalQueue
from bot.jobs import audit, pipeline, results, voices
from bot.jobs.build import build_spec
from bot.jobs.lifecycle import Status
from bot.jobs.model import StepRecord
from bot.jobs.pipeline import Progress
from bot.jobs.spec import SPEECH, VIDEO, Command, JobSpec
from bot.settings import SettingsError, audit_retention_days, load_env_file, parse_database
from bot.store import StoreUnavailable, open_store

DEFAULT_TIMEOUT = 600


class CliError(Exception):
    pass


def _job_flags(parser: argparse.ArgumentParser, kind: Kind, *, speech: bool = True) -> None:
    parser.add_argument("--model", "-m", help=f"model endpoint (default: {catalog.DEFAULTS[kind]})")
    if speech:
        parser.add_argument("--audio-url", help="audio URL or local file to speak")
        parser.add_argument("--text", help="text to speak (TTS), instead of --audio-url")
        parser.add_argument("--tts-model", help=f"TTS model for --text (default: {catalog.DEFAULTS[Kind.TTS]})")
        parser.add_argument(
            "--voice",
            help=f"TTS voice (default: {catalog.DEFAULT_VOICE}), or a custom voice id from voice-clone",
        )
    _wait_flags(parser)
    parser.add_argument("--add-fal-key", metavar="KEY", help="store FAL_KEY in ./.env and exit")
    _output_flag(parser)


def _wait_flags(parser: argparse.ArgumentParser) -> None:
    wait = parser.add_mutually_exclusive_group()
    wait.add_argument(
        "--wait", "-w", dest="wait", action="store_true", default=True, help="wait for the result (default)"
    )
    wait.add_argument("--async", "-a", dest="wait", action="store_false", help="print the request id at once and exit")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        help="first interval between status polls when the status stream is unavailable (s)",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help=f"max seconds to wait (default: {DEFAULT_TIMEOUT})"
    )


def _output_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output", "-o", metavar="PATH", type=Path, help="also save the video to PATH (after the JSON is printed)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.cli", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    th = sub.add_parser("talking-head", help="portrait + speech → talking-head video")
    th.add_argument("--image-url", help="portrait image URL or local file (required)")
    th.add_argument("--resolution", help="output resolution where the model has one (e.g. 480p, 720p)")
    th.add_argument(
        "--prompt", help="text guiding the video, for models that take one (fal-ai/bytedance/omnihuman/v1.5, aurora)"
    )
    _job_flags(th, Kind.TALKING_HEAD)

    ls = sub.add_parser("lip-sync", help="video + speech → the video with synced lips")
    ls.add_argument("--video-url", help="video URL or local file (required)")
    ls.add_argument("--sync-mode", choices=catalog.SYNC_MODES, help="when audio and video lengths differ")
    ls.add_argument(
        "--emotion", choices=catalog.EMOTIONS, help="direct the expression (runs fal-ai/sync-lipsync/react-1)"
    )
    _job_flags(ls, Kind.LIPSYNC)

    an = sub.add_parser("animate", help="portrait + driving video → live portrait")
    an.add_argument("--image-url", help="portrait image URL or local file (required)")
    an.add_argument("--video-url", help="driving video URL or local file (required)")
    _job_flags(an, Kind.ANIMATE, speech=False)

    dub = sub.add_parser("dub", help="video → the same video dubbed into another language (VEED)")
    dub.add_argument("--video-url", help="video URL or local file with speech (required)")
    dub.add_argument("--language", help="language code to dub into, e.g. es or pt (or an English name) (required)")
    _job_flags(dub, Kind.DUB, speech=False)

    clone = sub.add_parser("voice-clone", help="a voice sample (10 s to 5 min) → a custom voice id for --voice")
    clone.add_argument("--audio-url", help="the voice sample: URL or local file (required)")
    _wait_flags(clone)
    clone.add_argument("--add-fal-key", metavar="KEY", help="store FAL_KEY in ./.env and exit")

    check = sub.add_parser("check", help="check a media file as the bot does: what it is, how long it plays")
    check.add_argument("--as", dest="kind", required=True, choices=media.KINDS, help="the input it is meant for")
    check.add_argument("file", metavar="FILE", help="the file to check")
    check.set_defaults(usage_error=check.error)

    trail = sub.add_parser(
        "audit", help="the audit trail as JSON lines, newest first (reads DATABASE_URL as the bot does)"
    )
    trail.add_argument("--guild", type=_snowflake, metavar="ID", help="only jobs asked for in this server")
    trail.add_argument("--user", type=_snowflake, metavar="ID", help="only jobs this member asked for")
    trail.add_argument("--since", type=_day, metavar="DATE", help="only jobs from this UTC day on (YYYY-MM-DD)")

    for name, text in (
        ("status", "one status check of a request"),
        ("result", "wait for a request and print its result"),
        ("cancel", "cancel a request"),
    ):
        follow = sub.add_parser(name, help=text)
        follow.add_argument("request_id")
        follow.add_argument("--model", "-m", required=True, help="the model endpoint the request was sent to")
        if name == "result":
            _output_flag(follow)
    return parser


def _snowflake(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 20):
        raise argparse.ArgumentTypeError(f"'{text}' is not a Discord id (digits)")
    return int(text)


def _day(text: str) -> float:
    try:
        day = dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date as YYYY-MM-DD")
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


async def _audit_records(args: argparse.Namespace) -> list[audit.Record]:
    database = parse_database(os.environ.get("DATABASE_URL", "").strip() or "sqlite:///data/bot.db")
    if database.path is not None and not database.path.is_file():
        raise CliError(f"no database at {database.path.absolute()} (DATABASE_URL)")
    kept_from = time.time() - audit_retention_days() * audit.DAY  # past the retention, even before the sweep
    store = await open_store(database)
    try:
        return await audit.records(
            store, guild_id=args.guild, user_id=args.user, since=max(args.since or 0.0, kept_from)
        )
    finally:
        await store.close()


def _audit(args: argparse.Namespace) -> int:
    try:
        found = asyncio.run(_audit_records(args))
    except (CliError, SettingsError, StoreUnavailable) as exc:
        _say(f"Error: {exc}")
        return 1
    for record in found:
        print(json.dumps(record.to_json(), separators=(",", ":")))
    sys.stdout.flush()
    return 0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _is_url(value: str) -> bool:
    return value.startswith(("https://", "http://", "data:"))


SPEC_FLAGS = (
    "image_url",
    "video_url",
    "audio_url",
    "text",
    "model",
    "voice",
    "tts_model",
    "resolution",
    "sync_mode",
    "emotion",
    "prompt",
    "language",
)
KIND_OF = {"image_url": media.IMAGE, "video_url": media.VIDEO, "audio_url": media.AUDIO}


def _inspect_local(value: str | None, field: str) -> tuple[Path, media.MediaInfo] | None:
    """A local file, checked as the bot checks attachments; None for a URL."""
    if not value or _is_url(value):
        return None
    flag = f"--{field.replace('_', '-')}"
    path = Path(value).expanduser()
    if not path.is_file():
        raise CliError(f"{flag}: '{value}' is neither a URL nor an existing file")
    try:
        return path, media.inspect(path, KIND_OF[field])
    except media.Refused as exc:
        raise CliError(f"{flag}: {exc}") from None


async def _upload(queue: FalQueue, path: Path, info: media.MediaInfo, directory: Path) -> str:
    """Upload to fal storage under a name that ends as what the file really is (its content type follows the name)."""
    _say(f"Uploading {path.name} to fal storage...")
    named = directory / f"{len(list(directory.iterdir()))}" / media.upload_name(path.name, info)
    named.parent.mkdir()
    named.symlink_to(path.resolve())
    return await queue.upload_file(named)


class _Reporter(pipeline.Hooks):
    """Prints a progress line to stderr when something a person would care about changes."""

    def __init__(self) -> None:
        self.last: tuple[Any, ...] | None = None

    async def progress(self, event: Progress) -> None:
        key = (event.phase, event.step, event.position)
        if key != self.last:
            self.last = key
            elapsed = f"({event.elapsed:.0f}s elapsed)"
            if event.step == SPEECH:
                if event.phase is Status.SENDING:
                    _say(f"Generating TTS audio with {event.endpoint_id}... {elapsed}")
            elif event.phase is Status.QUEUED:
                where = "?" if event.position is None else event.position
                _say(f"Submitted to {event.endpoint_id}; queue position: {where} {elapsed}")
            elif event.phase is Status.RUNNING:
                _say(f"Processing... {elapsed}")
            elif event.phase is Status.FETCHING:
                _say(f"Completed! {elapsed}")
        if event.log:
            _say(f"  [fal] {event.log}")


def _spec(args: argparse.Namespace) -> JobSpec:
    if args.command == "voice-clone":
        if not args.audio_url:
            raise CliError("--audio-url is required (the voice sample: 10 s to 5 minutes of speech)")
        return voices.clone_spec(args.audio_url)
    command = {
        "talking-head": Command.TALKINGHEAD,
        "lip-sync": Command.LIPSYNC,
        "animate": Command.ANIMATE,
        "dub": Command.DUB,
    }[args.command]
    if command.speaks:
        if args.audio_url and args.text:
            raise CliError("give either --audio-url or --text, not both")
        if not args.audio_url and not args.text:
            raise CliError("--audio-url or --text is required")
    required = {
        Command.TALKINGHEAD: ("image_url",),
        Command.LIPSYNC: ("video_url",),
        Command.ANIMATE: ("image_url", "video_url"),
        Command.DUB: ("video_url", "language"),
    }
    for name in required[command]:
        if not getattr(args, name):
            raise CliError(f"--{name.replace('_', '-')} is required")
    flags = {name: getattr(args, name, None) for name in SPEC_FLAGS}
    if flags["voice"] and flags["voice"] not in catalog.MINIMAX_VOICES:
        flags["voice_name"] = flags["voice"]  # a custom voice id (voice-clone): fal's TTS says if it has none such
    return build_spec(command, **flags)


def _checked_links(spec: JobSpec) -> JobSpec:
    """Each link checked by the bot's own link parser (a public https link), in the form fal will fetch."""
    checked = {}
    for name in KIND_OF:
        value = getattr(spec, name)
        if value and value.startswith(("https://", "http://")):
            checked[name] = links.parse(f"--{name.replace('_', '-')}", value).url
    return spec.at(checked)


async def _run_job(args: argparse.Namespace, queue: FalQueue) -> dict[str, Any]:
    spec = _checked_links(_spec(args))  # refuse what is wrong before uploading or paying for anything
    local = {name: found for name in KIND_OF if (found := _inspect_local(getattr(spec, name), name))}
    if "audio_url" in local:
        spec = dataclasses.replace(spec, audio_seconds=local["audio_url"][1].seconds)
        pipeline.check_audio_length(spec, spec.audio_seconds)
    if "video_url" in local:
        spec = dataclasses.replace(spec, video_seconds=local["video_url"][1].seconds)
        pipeline.check_video_length(spec, spec.video_seconds)
    with tempfile.TemporaryDirectory(prefix="lipsync-cli-") as directory:
        hosted = {name: await _upload(queue, path, info, Path(directory)) for name, (path, info) in local.items()}
    spec = spec.at(hosted)
    steps: dict[str, StepRecord] = {}
    run = pipeline.run(queue, spec, steps=steps, hooks=_Reporter(), submit_only=not args.wait)
    try:
        result = await asyncio.wait_for(run, timeout=args.timeout)
    except TimeoutError:
        sub = steps[VIDEO].submission if VIDEO in steps else None
        if sub is None:
            raise CliError(f"timed out after {args.timeout:.0f}s before the video job was submitted") from None
        raise CliError(
            f"timed out after {args.timeout:.0f}s; request {sub.request_id} is still running on fal "
            f"(python -m bot.cli result -m {sub.endpoint_id} {sub.request_id})"
        ) from None
    if not args.wait:
        sub = steps[VIDEO].submission
        assert sub is not None
        return {"request_id": sub.request_id, "model": sub.endpoint_id}
    return result


async def _follow_up(args: argparse.Namespace, queue: FalQueue) -> dict[str, Any]:
    sub = await queue.submission_for(args.model, args.request_id)
    if args.command == "status":
        return await queue.status(sub)
    if args.command == "cancel":
        answer = await queue.cancel(sub)
        return {"request_id": args.request_id, "cancelled": answer is CancelAnswer.REQUESTED, "status": answer.value}
    return await queue.run(sub)


def _save_key(key: str) -> None:
    env = Path.cwd() / ".env"
    lines = [line for line in (env.read_text().splitlines() if env.exists() else []) if not line.startswith("FAL_KEY=")]
    env.write_text("\n".join([*lines, f"FAL_KEY={key}"]) + "\n")
    env.chmod(0o600)


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    queue = FalQueue(os.environ["FAL_KEY"], poll_min=getattr(args, "poll_interval", 1.0))
    try:
        if args.command in ("status", "result", "cancel"):
            return await _follow_up(args, queue)
        return await _run_job(args, queue)
    finally:
        await queue.aclose()


def _check(args: argparse.Namespace) -> int:
    path = Path(args.file).expanduser()
    if not path.is_file():
        args.usage_error(f"'{args.file}' is not a file")  # exits 2
    try:
        info = media.inspect(path, args.kind)
    except media.Refused as exc:
        _say(str(exc))
        return 1
    print(json.dumps(info.to_json()))
    return 0


async def _save_video(output: dict[str, Any], path: Path) -> None:
    url = (output.get("video") or {}).get("url") if isinstance(output.get("video"), dict) else None
    if not url:
        raise CliError("the result has no video to save")
    async with aiohttp.ClientSession() as session:
        size = await results.save(session, url, path)
    _say(f"Saved the video to {path} ({results.megabytes(size)})")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "output", None) and getattr(args, "wait", True) is False:
        parser.error("--output needs the result: leave out --async (or save it later with: result REQUEST_ID -o PATH)")
    if args.command == "check":
        return _check(args)
    if getattr(args, "add_fal_key", None):
        _save_key(args.add_fal_key)
        _say("API key saved.")
        return 0
    load_env_file()
    if args.command == "audit":
        return _audit(args)
    if not os.environ.get("FAL_KEY", "").strip():
        _say("Error: FAL_KEY not set. Use --add-fal-key or set FAL_KEY env var.")
        return 1
    try:
        output = asyncio.run(_main(args))
    except (CliError, BadInput, FalError) as exc:
        where = f" ({exc.field})" if isinstance(exc, BadInput) else ""
        _say(f"Error{where}: {exc}")
        return 1
    except KeyboardInterrupt:
        _say("Interrupted.")
        return 130
    print(json.dumps(output, indent=2), flush=True)
    if getattr(args, "output", None):
        try:
            asyncio.run(_save_video(output, args.output))
        except (CliError, aiohttp.ClientError, OSError) as exc:
            _say(f"Error: could not save the video to {args.output}: {exc}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
