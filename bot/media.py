"""What a media file really is (from its first bytes, not its name) and how long it plays."""

from __future__ import annotations

import io

import mutagen
from mutagen import MutagenError

IMAGE, AUDIO, VIDEO = "image", "audio", "video"

ACCEPTED = {
    IMAGE: ("image/png", "image/jpeg", "image/webp", "image/gif", "image/avif"),
    AUDIO: ("audio/mpeg", "audio/wav", "audio/ogg", "audio/mp4", "audio/aac", "audio/flac"),
    VIDEO: ("video/mp4", "video/quicktime", "video/webm"),
}
EXTENSIONS = {
    IMAGE: "png, jpg, webp, gif, avif",
    AUDIO: "mp3, wav, ogg, m4a, aac, flac",
    VIDEO: "mp4, mov, webm",
}


def sniff(head: bytes) -> str | None:
    """The content type that a file's leading bytes show, or None when they show no known type."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06):
        return "audio/mpeg"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "audio/aac"
    return None


def kind_of(content_type: str | None) -> str | None:
    for kind, types in ACCEPTED.items():
        if content_type in types:
            return kind
    return None


def duration_seconds(data: bytes) -> float | None:
    """Play length from the file headers (mutagen); None when the headers do not say."""
    try:
        parsed = mutagen.File(io.BytesIO(data))
    except (MutagenError, ValueError, EOFError):
        return None
    length = getattr(getattr(parsed, "info", None), "length", None)
    return float(length) if length else None
