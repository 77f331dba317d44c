"""The finished video, fetched from fal's CDN so that Discord can host and play it.

fal deletes generated files when their lifecycle ends, so the video is attached to the final message
rather than linked only. The download streams to a temporary file, stops as soon as the file is larger
than Discord allows for the message, and is checked to be a playable video (bot.media) before it is
attached. Whatever goes wrong, the result keeps fal's link and a sentence saying why it is not attached.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bot import media
from bot.jobs.model import Job

log = logging.getLogger(__name__)

DISCORD_DEFAULT_LIMIT = 10 * 1024 * 1024  # bytes a message may carry without boosts or Nitro (2025 default)
CHUNK = 256 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=300, sock_connect=30, sock_read=60)


def megabytes(size: int) -> str:
    return f"{size / 1024**2:.1f} MB"


@dataclass
class Video:
    """The job's video as it can be shown: a local copy to attach, or only fal's link with the reason."""

    url: str | None  # fal's link; also offered as a download
    path: Path | None = None  # the checked local copy, when it can be attached
    size: int | None = None
    why_not_attached: str | None = None  # for people, when path is None

    @property
    def filename(self) -> str:
        return self.path.name if self.path else "video.mp4"

    def fits(self, limit: int) -> bool:
        return self.path is not None and self.size is not None and self.size <= limit

    def too_large_for(self, limit: int) -> str:
        return (
            f"The video is {megabytes(self.size or 0)}, more than the {megabytes(limit)} Discord accepts here, "
            "so it is linked instead of attached."
        )

    def cleanup(self) -> None:
        if self.path is not None:
            shutil.rmtree(self.path.parent, ignore_errors=True)
            self.path = None


async def fetch(session: aiohttp.ClientSession, job: Job, limit: int) -> Video:
    """The job's video, downloaded when it is at most `limit` bytes; never raises."""
    url = job.video_url
    if url is None:
        return Video(None, why_not_attached="fal's result has no video file.")
    directory = Path(tempfile.mkdtemp(prefix="lipsync-result-"))
    path = directory / f"{job.command.value}-{job.id}.mp4"
    try:
        size = await _download(session, url, path, limit)
        if size is None:
            shutil.rmtree(directory, ignore_errors=True)
            declared = _declared_size(job)
            video = Video(url, size=declared)
            video.why_not_attached = (
                video.too_large_for(limit)
                if declared
                else f"The video is larger than the {megabytes(limit)} Discord accepts here, "
                "so it is linked instead of attached."
            )
            return video
        if not await asyncio.to_thread(media.has_video_stream, path):
            raise _Unusable("what fal's CDN sent does not open as a video")
        return Video(url, path, size)
    except _Unusable as exc:
        log.warning("job %s: the video from fal cannot be attached: %s", job.id, exc)
        shutil.rmtree(directory, ignore_errors=True)
        return Video(url, why_not_attached=f"The video could not be attached ({exc}); the link may still work.")
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        log.warning("job %s: downloading the video from fal failed: %r", job.id, exc)
        shutil.rmtree(directory, ignore_errors=True)
        return Video(
            url, why_not_attached="Downloading the video from fal failed, so it is linked instead of attached."
        )


class _Unusable(Exception):
    pass


async def _download(session: aiohttp.ClientSession, url: str, path: Path, limit: int) -> int | None:
    """Bytes written, or None when the file is larger than `limit` (nothing more is read then)."""
    async with session.get(url, timeout=TIMEOUT) as response:
        if response.status != 200:
            raise _Unusable(f"fal's CDN answered HTTP {response.status}")
        if (response.content_type or "").startswith("text/"):
            raise _Unusable(f"fal's CDN sent a {response.content_type} page instead of the video")
        if response.content_length is not None and response.content_length > limit:
            return None
        size = 0
        with path.open("wb") as file:
            async for chunk in response.content.iter_chunked(CHUNK):
                size += len(chunk)
                if size > limit:
                    return None
                file.write(chunk)
        if response.content_length is not None and size != response.content_length:
            raise _Unusable("the download broke off")
        return size


def _declared_size(job: Job) -> int | None:
    video = (job.result or {}).get("video")
    size = video.get("file_size") if isinstance(video, dict) else None
    return size if isinstance(size, int) else None


async def save(session: aiohttp.ClientSession, url: str, path: Path) -> int:
    """The CLI's --output: the whole file, streamed to `path` (raises on failure)."""
    async with session.get(url, timeout=TIMEOUT) as response:
        response.raise_for_status()
        size = 0
        with path.open("wb") as file:
            async for chunk in response.content.iter_chunked(CHUNK):
                size += len(chunk)
                file.write(chunk)
    return size
