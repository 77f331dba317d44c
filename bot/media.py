"""What a media file really is, how long it really plays, and what each input accepts.

Files are read by the libraries that play them, never judged by their name or first bytes:
Pillow decodes images; FFmpeg (through PyAV, which ships it in its wheels) opens audio and video,
and the play length is where the packets end, not what the header claims. One table per input
says which formats are accepted, with the content types clients declare for them.

`inspect` reads the whole file (it demuxes every packet): call it off the event loop.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import av
import av.error
from PIL import Image

IMAGE, AUDIO, VIDEO = "image", "audio", "video"
KINDS = (IMAGE, AUDIO, VIDEO)
A_KIND = {IMAGE: "an image", AUDIO: "an audio file", VIDEO: "a video"}


@dataclass(frozen=True)
class Format:
    """One accepted format: its name as people say it, the content type sent to fal, and what clients declare."""

    name: str
    content_type: str
    extension: str  # the extension a hosted copy is given, so storage serves the right type
    extensions: tuple[str, ...]  # the usual ones, as listed to people
    declared: tuple[str, ...] = ()  # other content types clients send for it
    source: str = ""  # where we learned that the models take it

    @property
    def content_types(self) -> tuple[str, ...]:
        return (self.content_type, *self.declared)


_FAL_PAGES = "fal playground pages of Fabric 1.0 and OmniHuman 1.5"
_SYNC = "sync.so media formats (the Sync lipsync models)"

PNG = Format("PNG", "image/png", ".png", ("png",), ("image/x-png", "image/apng"), _FAL_PAGES)
JPEG = Format("JPEG", "image/jpeg", ".jpg", ("jpg", "jpeg"), ("image/jpg", "image/pjpeg"), _FAL_PAGES)
WEBP = Format("WebP", "image/webp", ".webp", ("webp",), (), _FAL_PAGES)
GIF = Format("GIF", "image/gif", ".gif", ("gif",), (), _FAL_PAGES)
AVIF = Format("AVIF", "image/avif", ".avif", ("avif",), (), _FAL_PAGES)

MP3 = Format(
    "MP3",
    "audio/mpeg",
    ".mp3",
    ("mp3",),
    ("audio/mp3", "audio/mpeg3", "audio/x-mpeg", "audio/x-mp3", "audio/x-mpeg-3"),
    f"{_FAL_PAGES}; {_SYNC}",
)
WAV = Format(
    "WAV",
    "audio/wav",
    ".wav",
    ("wav",),
    ("audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/x-pn-wav"),
    f"{_FAL_PAGES}; {_SYNC}",
)
OGG = Format(
    "Ogg",
    "audio/ogg",
    ".ogg",
    ("ogg", "oga", "opus"),
    ("audio/opus", "audio/vorbis", "audio/x-ogg", "application/ogg"),
    f"{_FAL_PAGES}; {_SYNC} (Vorbis or Opus; Discord voice messages are Ogg Opus)",
)
# An audio-only MP4 is often named .mp4 (declared video/mp4): its bytes decide.
M4A = Format(
    "M4A", "audio/mp4", ".m4a", ("m4a",), ("audio/x-m4a", "audio/m4a", "audio/aac-mp4", "video/mp4"), _FAL_PAGES
)
AAC = Format("AAC", "audio/aac", ".aac", ("aac",), ("audio/x-aac", "audio/aacp", "audio/x-hx-aac-adts"), _FAL_PAGES)
FLAC = Format("FLAC", "audio/flac", ".flac", ("flac",), ("audio/x-flac",), _SYNC)

MP4 = Format("MP4", "video/mp4", ".mp4", ("mp4", "m4v"), ("video/x-m4v",), _SYNC)
MOV = Format("QuickTime", "video/quicktime", ".mov", ("mov",), (), _SYNC)
WEBM = Format("WebM", "video/webm", ".webm", ("webm",), (), _SYNC)

ACCEPTED: dict[str, tuple[Format, ...]] = {
    IMAGE: (PNG, JPEG, WEBP, GIF, AVIF),
    AUDIO: (MP3, WAV, OGG, M4A, AAC, FLAC),
    VIDEO: (MP4, MOV, WEBM),
}
MAX_BYTES = {IMAGE: 20 * 1024**2, AUDIO: 50 * 1024**2, VIDEO: 200 * 1024**2}
MAX_IMAGE_PIXELS = 50_000_000  # a 50-megapixel phone photo; decoding one takes at most 200 MB

# A header's length is compared with the packets only where it is exact (an index, a sample count, or
# an MP3's Xing/Info/VBRI frame count); elsewhere (ADTS AAC, Ogg, MP3 without such a frame) FFmpeg's
# length is an estimate, so those files are measured and never compared.
EXACT_HEADER_LENGTH = ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "wav", "flac")


def well_short(claimed: float, played: float) -> bool:
    """Whether the packets stop well short of the header's length (not a rounding or priming difference)."""
    return claimed - played > max(0.5, 0.03 * claimed)


# ---- what the user is told


class Refused(ValueError):
    """A file that is not accepted. str() is the message for the person who sent it."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # empty | too_big | wrong_kind | not_offered | damaged | truncated | unknown


@dataclass(frozen=True)
class MediaInfo:
    kind: str
    format: Format
    seconds: float | None  # play length from the packets; None for images
    width: int | None = None
    height: int | None = None
    codecs: tuple[str, ...] = ()

    @property
    def content_type(self) -> str:
        return self.format.content_type

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "content_type": self.content_type,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
        }


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def accepted_text(kind: str) -> str:
    """'PNG, JPEG, WebP, GIF or AVIF (up to 20 MB)'."""
    return f"{_join([f.name for f in ACCEPTED[kind]])} (up to {MAX_BYTES[kind] // 1024**2} MB)"


def needed(kind: str) -> str:
    return f"{A_KIND[kind]} is needed: {accepted_text(kind)}"


def extensions_text(kind: str) -> str:
    """'png, jpg, jpeg, webp, gif, avif': the file names people know."""
    return ", ".join(e for f in ACCEPTED[kind] for e in f.extensions)


def accepted_markdown() -> str:
    """The accepted-formats table as the README shows it (a test keeps the two the same)."""
    rows = ["| input | formats (file names) | declared content types taken | up to |", "|---|---|---|---|"]
    for kind in KINDS:
        formats = ", ".join(f"{f.name} ({', '.join(f.extensions)})" for f in ACCEPTED[kind])
        types = ", ".join(f"`{t}`" for f in ACCEPTED[kind] for t in f.content_types)
        rows.append(f"| {kind} | {formats} | {types} | {MAX_BYTES[kind] // 1024**2} MB |")
    return "\n".join(rows)


def _a(word: str) -> str:
    """The article as the word is said: an MP3, an M4A, an Ogg; a WAV, a WebM, a PNG, a FLAC, a HEIC."""
    spoken_vowel = (
        "MP",
        "M4",
        "AAC",
        "AVI",
        "AIFF",
        "AMR",
        "AC-3",
        "E-AC-3",
        "Ogg",
        "MKV",
        "MPEG",
        "MXF",
        "SVG",
        "ICO",
    )
    return f"an {word}" if word.startswith(spoken_vowel) else f"a {word}"


def _refuse(label: str, what: str, kind: str, reason: str) -> Refused:
    return Refused(f"'{label}' {what}; {needed(kind)}", reason)


# Declared content types we can name, whether or not they are accepted (for messages only).
_DECLARED_NAMES = {
    "image/heic": "a HEIC photo",
    "image/heif": "a HEIF photo",
    "image/heic-sequence": "a HEIC photo",
    "image/bmp": "a BMP image",
    "image/tiff": "a TIFF image",
    "image/svg+xml": "an SVG drawing",
    "image/x-icon": "an icon",
    "image/vnd.microsoft.icon": "an icon",
    "video/x-matroska": "a Matroska (MKV) video",
    "video/x-msvideo": "an AVI video",
    "video/avi": "an AVI video",
    "video/mpeg": "an MPEG video",
    "video/3gpp": "a 3GP video",
    "video/x-ms-wmv": "a Windows Media video",
    "video/ogg": "an Ogg video",
    "video/x-flv": "a Flash video",
    "video/mp2t": "an MPEG-TS video",
    "audio/webm": "a WebM audio file",
    "audio/x-ms-wma": "a Windows Media audio file",
    "audio/aiff": "an AIFF audio file",
    "audio/x-aiff": "an AIFF audio file",
    "audio/amr": "an AMR audio file",
    "audio/3gpp": "a 3GP audio file",
    "audio/midi": "a MIDI file",
    "audio/x-caf": "a CAF audio file",
    "application/pdf": "a PDF document",
    "application/zip": "a ZIP archive",
    "text/plain": "a text file",
    "text/html": "a web page",
    "application/json": "a JSON file",
    "application/msword": "a Word document",
}


def describe_declared(content_type: str) -> str:
    """'an MP3 audio file (audio/mpeg)', 'a PDF document (application/pdf)', 'declared as x/y'."""
    for kind, formats in ACCEPTED.items():
        for f in formats:
            if content_type in f.content_types and not (f is M4A and content_type == "video/mp4"):
                return f"{_a(f.name)} {_NOUN[kind]} ({content_type})"
    name = _DECLARED_NAMES.get(content_type)
    return f"{name} ({content_type})" if name else f"declared as {content_type}"


_NOUN = {IMAGE: "image", AUDIO: "audio file", VIDEO: "video"}


def declared_type(content_type: str | None) -> str | None:
    """The bare, lower-case media type ('audio/ogg; codecs=opus' → 'audio/ogg'); None when it says nothing."""
    bare = (content_type or "").split(";")[0].strip().lower()
    return None if bare in ("", "application/octet-stream", "binary/octet-stream") else bare


def check_declared(
    kind: str, content_type: str | None, size: int | None, *, name: str, named_only: bool = False
) -> None:
    """What a client declares about a file (type and size), before anything is downloaded; raises Refused.
    `named_only`: nothing will look inside the file, so one that declares no type must say what it is by its
    name (an accepted extension of this kind)."""
    declared = declared_type(content_type)
    if declared is not None and not any(declared in f.content_types for f in ACCEPTED[kind]):
        raise _refuse(name, f"is {describe_declared(declared)}", kind, "wrong_kind")
    extension = Path(name).suffix.lower().lstrip(".")
    known = {e for formats in ACCEPTED.values() for f in formats for e in f.extensions}
    if declared is None and extension and extension not in known:
        raise _refuse(name, f"is a .{extension} file by its name and declares no media type", kind, "wrong_kind")
    if declared is None and named_only and extension not in {e for f in ACCEPTED[kind] for e in f.extensions}:
        what = f"is a .{extension} file by its name" if extension else "has no file extension"
        raise _refuse(
            name,
            f"declares no media type and {what}; name it for what it is ({extensions_text(kind)})",
            kind,
            "unknown",
        )
    if size == 0:
        raise _refuse(name, "is empty (0 bytes)", kind, "empty")
    if size is not None and size > MAX_BYTES[kind]:
        raise _refuse(name, f"is {size / 1024**2:.1f} MB", kind, "too_big")


def upload_name(name: str, info: MediaInfo) -> str:
    """A safe file name that ends in the extension of what the file really is ('voice.mp4' → 'voice.m4a')."""
    stem = Path(os.path.basename(name or "")).stem
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem).strip("._")[:80] or info.kind
    return stem + info.format.extension


# ---- images (Pillow)

_PILLOW_FORMATS = ["PNG", "JPEG", "WEBP", "GIF", "AVIF", "BMP", "TIFF", "ICO", "PSD", "JPEG2000"]
_PILLOW_ACCEPTED = {"PNG": PNG, "JPEG": JPEG, "MPO": JPEG, "WEBP": WEBP, "GIF": GIF, "AVIF": AVIF}
_PILLOW_NAMES = {
    "BMP": "a BMP image",
    "TIFF": "a TIFF image",
    "ICO": "an icon",
    "PSD": "a Photoshop document",
    "JPEG2000": "a JPEG 2000 image",
}


def _inspect_image(path: Path, expected: str, label: str) -> MediaInfo | None:
    """The image's MediaInfo, Refused, or None when Pillow does not recognise the file."""
    Image.init()  # registers every plugin once, so `formats` below finds them
    try:
        image = Image.open(path, formats=_PILLOW_FORMATS)
    except Image.DecompressionBombError:
        raise _refuse(
            label,
            f"is an image of more than {2 * (Image.MAX_IMAGE_PIXELS or 0) // 1_000_000} megapixels (up to "
            f"{MAX_IMAGE_PIXELS // 1_000_000} are accepted)",
            expected,
            "too_big",
        ) from None
    except Exception:  # noqa: BLE001 - whatever Pillow cannot open is left to FFmpeg, then described
        return None
    with image:
        fmt = _PILLOW_ACCEPTED.get(image.format or "")
        what = (
            f"{_a(fmt.name)} image" if fmt else _PILLOW_NAMES.get(image.format or "", f"{_a(image.format or '')} image")
        )
        if expected != IMAGE:
            raise _refuse(label, f"is {what}", expected, "wrong_kind")
        if fmt is None:
            raise _refuse(label, f"is {what}", expected, "not_offered")
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise _refuse(
                label,
                f"is {what} of {width}×{height} pixels ({width * height / 1e6:.0f} megapixels; "
                f"up to {MAX_IMAGE_PIXELS // 1_000_000} are accepted)",
                expected,
                "too_big",
            )
        try:
            if fmt is JPEG:
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))  # decodes every block, at 1/8 the memory
            image.load()
            if getattr(image, "is_animated", False):  # the last frame too: a cut animation still has a good first frame
                image.seek(getattr(image, "n_frames", 1) - 1)
                image.load()
        except Exception:  # noqa: BLE001 - a decoder's error of any type means the same to the sender
            raise _refuse(
                label, f"is {what} but it is damaged or incomplete (it cannot be decoded)", expected, "damaged"
            ) from None
    if fmt is PNG:  # the chunks' checksums, which decoding the pixels does not look at
        try:
            with Image.open(path, formats=["PNG"]) as again:
                again.verify()
        except Exception:  # noqa: BLE001
            raise _refuse(
                label, f"is {what} but it is damaged (its checksums do not match)", expected, "damaged"
            ) from None
    return MediaInfo(IMAGE, fmt, None, width, height, (fmt.name.lower(),))


# ---- audio and video (FFmpeg through PyAV)


class _Anonymous(io.RawIOBase):
    """The file without its name, so FFmpeg picks the format from the contents, not the extension."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self.file.readinto(buffer)  # type: ignore[attr-defined]  # a real file, typed as BinaryIO

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()


_HEIF_BRANDS = {"heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1", "mif2"}
_AVIF_BRANDS = {"avif", "avis"}
_WEBM_CODECS = {"vp8", "vp9", "av1", "vorbis", "opus"}
_CONTAINER_NAMES = {
    "avi": "AVI",
    "asf": "Windows Media",
    "mpegts": "MPEG-TS",
    "mpeg": "MPEG",
    "aiff": "AIFF",
    "amr": "AMR",
    "caf": "CAF",
    "flv": "Flash",
    "w64": "Wave64",
    "ape": "Monkey's Audio",
    "wv": "WavPack",
    "mpegvideo": "MPEG",
    "dts": "DTS",
    "ac3": "AC-3",
    "eac3": "E-AC-3",
    "au": "Sun AU",
    "voc": "VOC",
    "rm": "RealMedia",
    "mxf": "MXF",
}


_PIPE_FORMATS = {"png": PNG, "apng": PNG, "jpeg": JPEG, "webp": WEBP, "gif": GIF}
_PIPE_NAMES = {"bmp": "a BMP image", "tiff": "a TIFF image", "svg": "an SVG drawing", "image2": "an image"}


def _brands(container: Any) -> tuple[str, set[str]]:
    meta = container.metadata
    major = meta.get("major_brand", "").strip()
    compatible = meta.get("compatible_brands", "")
    return major, {major} | {compatible[i : i + 4].strip() for i in range(0, len(compatible), 4)} - {""}


def _identify(container: Any, kind: str | None) -> tuple[Format | None, str, str | None]:
    """From the container and its streams: the format (None when no input takes it), words for it, and its kind.

    The kind comes from the streams, except for still-image containers (HEIC, AVIF, image pipes).
    """
    family = container.format.name
    codecs = {_codec_name(s) for s in container.streams if s.type in (AUDIO, VIDEO)}
    noun = _NOUN.get(kind or "", "file")
    if family.startswith("mov,"):
        major, brands = _brands(container)
        if major in _AVIF_BRANDS:
            return AVIF, "an AVIF image", IMAGE
        if major in _HEIF_BRANDS or (brands & _HEIF_BRANDS and not brands & {"isom", "mp41", "mp42", "qt"}):
            return None, "a HEIC photo", IMAGE
        if major.startswith("3g"):
            return None, f"a 3GP {noun}", kind
        if kind == AUDIO:
            return M4A, "an M4A audio file" if major == "M4A" else "an M4A audio file (an MP4 with sound only)", kind
        if major == "qt":
            return MOV, "a QuickTime video", kind
        return MP4, "an MP4 video", kind
    if family == "matroska,webm":
        if codecs <= _WEBM_CODECS:
            return (WEBM if kind == VIDEO else None), f"a WebM {noun}", kind
        return None, f"a Matroska (MKV) {noun}", kind
    simple = {"mp3": MP3, "wav": WAV, "ogg": OGG, "flac": FLAC, "aac": AAC}
    if family in simple:
        fmt = simple[family]
        if kind == VIDEO:  # Ogg Theora and the like
            return None, f"{_a(fmt.name)} video", kind
        return fmt, f"{_a(fmt.name)} audio file", kind
    if family.endswith("_pipe") or family in ("image2", "gif", "apng"):
        name = family.removesuffix("_pipe")
        image = _PIPE_FORMATS.get(name)
        return (
            image,
            (f"{_a(image.name)} image" if image else _PIPE_NAMES.get(name, f"{_a(name.upper())} image")),
            IMAGE,
        )
    name = _CONTAINER_NAMES.get(family.split(",")[0], container.format.long_name or family)
    return None, f"{_a(name)} {noun}", kind


def _what_unreadable(path: Path) -> str:
    """Words for a file that neither Pillow nor FFmpeg can open, from its leading bytes (for the message only)."""
    with open(path, "rb") as f:
        head = f.read(512)
    signatures = [
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"RIFF", "a RIFF (WAV or WebP) file"),
        (b"ID3", "an MP3 audio file"),
        (b"OggS", "an Ogg file"),
        (b"fLaC", "a FLAC audio file"),
        (b"\x1a\x45\xdf\xa3", "a WebM or Matroska file"),
    ]
    for magic, what in signatures:
        if head.startswith(magic):
            return f"looks like {what} but it is damaged or incomplete"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "looks like an AAC audio file but it is damaged or incomplete"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return "looks like an MP3 audio file but it is damaged or incomplete"
    if head[4:8] == b"ftyp":
        return "looks like an MP4 or QuickTime file but it is damaged or incomplete"
    if head.startswith(b"%PDF"):
        return "is a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "is a ZIP archive (or an Office document)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in "\r\n\t" for c in text):
        return "is a text file"
    return "is not an image, audio or video file (its contents match no format we know)"


def _span(packet: Any, span: dict[int, list[float]]) -> None:
    ts = packet.pts if packet.pts is not None else packet.dts
    if ts is None:
        return
    start = float(ts * packet.time_base)
    end = float((ts + (packet.duration or 0)) * packet.time_base)
    entry = span.setdefault(packet.stream.index, [start, end])
    entry[0], entry[1] = min(entry[0], start), max(entry[1], end)


def _length(entry: list[float] | None) -> float:
    if entry is None:
        return 0.0
    return max(0.0, entry[1] - max(0.0, entry[0]))  # negative starts are encoder priming, not played


def _inspect_av(path: Path, expected: str, label: str) -> MediaInfo:
    with open(path, "rb") as raw:
        try:
            container = av.open(_Anonymous(raw), "r", metadata_errors="replace")
        except Exception:  # noqa: BLE001 - FFmpeg's errors, and PyAV's on malformed input
            raise _refuse(label, _what_unreadable(path), expected, "unknown") from None
        with container:  # every stream attribute is read inside: they are freed with the container
            streams = [s for s in container.streams if s.type in (AUDIO, VIDEO) and s.codec_context is not None]
            cover_art = [s for s in streams if s.type == VIDEO and s.disposition & av.stream.Disposition.attached_pic]
            playing = [s for s in streams if s not in cover_art]
            kind = (
                VIDEO
                if any(s.type == VIDEO for s in playing)
                else AUDIO
                if any(s.type == AUDIO for s in playing)
                else None
            )
            fmt, what, kind = _identify(container, kind)
            if kind == IMAGE and expected == IMAGE and fmt is not None:  # one of ours that Pillow could not open
                raise _refuse(
                    label, f"is {what} but it is damaged or incomplete (it cannot be decoded)", expected, "damaged"
                )
            if kind is None:
                if not any(s.type == "subtitle" for s in container.streams):  # opened, but nothing inside makes sense
                    raise _refuse(label, _what_unreadable(path), expected, "unknown")
                raise _refuse(label, f"is {what} with no audio or video in it", expected, "wrong_kind")
            if kind != expected or fmt is None or fmt not in ACCEPTED[expected]:
                if kind == AUDIO and expected == VIDEO and cover_art:
                    what += " (its picture is cover art, not a video)"
                raise _refuse(label, f"is {what}", expected, "wrong_kind" if kind != expected else "not_offered")
            primary = next(s for s in playing if s.type == expected)
            codec = _codec_name(primary)
            decoder = _Decoder(primary)
            span: dict[int, list[float]] = {}
            last = None
            try:
                for packet in container.demux(playing):
                    if packet.size == 0:
                        continue
                    _span(packet, span)
                    last = packet
                    if packet.stream is primary:
                        decoder.feed(packet)
            except (av.error.FFmpegError, OSError, ValueError):
                pass  # the data ends here: what was read so far is what plays
            cut_short = last is not None and last.is_corrupt  # the demuxer read less than the packet's size
            if kind == AUDIO:  # audio frames stand alone: one cut in the middle does not decode
                cut_short = cut_short or not decoder.decodes_last()
            decoder.finish()
            claimed = _claimed_seconds(container, path)
            own = span.get(primary.index)
            played = max(_length(span.get(s.index)) for s in playing)
            width = getattr(primary, "width", None) if kind == VIDEO else None
            height = getattr(primary, "height", None) if kind == VIDEO else None
            codecs = tuple(_codec_name(s) for s in playing)
    data = "video" if kind == VIDEO else "audio"
    if own is None:
        raise _refuse(label, f"is {what} but it holds no {data} (it is damaged or incomplete)", expected, "truncated")
    if claimed is not None and well_short(claimed, played):
        raise _refuse(
            label,
            f"is {what} but it is incomplete: its header says it plays {claimed:.1f} s and its data ends at "
            f"{played:.1f} s",
            expected,
            "truncated",
        )
    if cut_short:
        raise _refuse(
            label,
            f"is {what} but it is incomplete: it breaks off in the middle of its data at {played:.1f} s",
            expected,
            "truncated",
        )
    if not decoder.ok:
        raise _refuse(
            label,
            f"is {what} but its {data} cannot be decoded (it is damaged, or its {codec} codec is not one we can read)",
            expected,
            "damaged",
        )
    return MediaInfo(kind, fmt, round(_length(own), 3), width, height, codecs)


def _claimed_seconds(container: Any, path: Path) -> float | None:
    """The length the header states, where it states one exactly (an index, a sample count, a frame count)."""
    family = container.format.name
    if not container.duration:
        return None
    if family in EXACT_HEADER_LENGTH or (family == "mp3" and _mp3_counts_frames(path)):
        return container.duration / 1e6
    return None  # a bitrate estimate at best


def _mp3_counts_frames(path: Path) -> bool:
    """Whether an MP3's first frame is a Xing/Info/VBRI header (a frame count); without one, FFmpeg's length is a guess."""
    with open(path, "rb") as f:
        head = f.read(10)
        offset = 0
        if head[:3] == b"ID3" and len(head) == 10:
            offset = 10 + ((head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F))
        f.seek(offset)
        frame = f.read(4096)
    sync = next((i for i in range(len(frame) - 1) if frame[i] == 0xFF and frame[i + 1] & 0xE0 == 0xE0), None)
    return sync is not None and any(tag in frame[sync : sync + 200] for tag in (b"Xing", b"Info", b"VBRI"))


def _codec_name(stream: Any) -> str:
    """The codec's own name (av1, h264), not the decoder's (libdav1d)."""
    context = stream.codec_context
    return context.codec.canonical_name if context is not None else "unknown"


class _Decoder:
    """Decodes the primary stream's first frames (proof that its codec data is real) and its last packet."""

    WANT = 2  # frames
    MAX_PACKETS = 200

    def __init__(self, stream: Any) -> None:
        self.context = stream.codec_context
        self.frames = 0
        self.packets = 0
        self.last: Any = None
        self.fed_last = False

    def feed(self, packet: Any) -> None:
        self.last, self.fed_last = packet, False
        if self.frames >= self.WANT or self.packets >= self.MAX_PACKETS:
            return
        self.packets += 1
        self.fed_last = True
        try:
            self.frames += len(self.context.decode(packet))
        except (av.error.FFmpegError, ValueError):
            pass

    def decodes_last(self) -> bool:
        if self.last is None or self.fed_last:
            return True
        try:
            self.context.decode(self.last)
        except (av.error.FFmpegError, ValueError):
            return False
        return True

    def finish(self) -> None:
        if self.frames < self.WANT and self.packets:
            try:
                self.frames += len(self.context.decode(None))
            except (av.error.FFmpegError, ValueError):
                pass

    @property
    def ok(self) -> bool:
        return self.frames > 0


# ---- the one check


def inspect(path: str | os.PathLike[str], expected: str, *, name: str | None = None) -> MediaInfo:
    """What the file at `path` really is, if it is accepted as `expected` (image, audio or video); else Refused.

    `name` is the file name the person knows (it appears in messages); by default the path's own.
    Blocking (reads the whole file): run it in a thread from async code.
    """
    if expected not in KINDS:
        raise ValueError(f"expected must be one of {KINDS}, not {expected!r}")
    path = Path(path)
    label = name or path.name
    size = path.stat().st_size
    if size == 0:
        raise _refuse(label, "is empty (0 bytes)", expected, "empty")
    if size > MAX_BYTES[expected]:
        raise _refuse(label, f"is {size / 1024**2:.1f} MB", expected, "too_big")
    info = _inspect_image(path, expected, label)
    if info is not None:
        return info
    return _inspect_av(path, expected, label)


def has_video_stream(path: str | os.PathLike[str]) -> bool:
    """A quick look (container and streams, no packets): does the file open as a video? For files we did not
    take from people (fal's results), where the full inspection would cost more than it protects."""
    try:
        with av.open(str(path)) as container:
            return any(
                not stream.disposition & av.stream.Disposition.attached_pic for stream in container.streams.video
            )
    except (av.error.FFmpegError, OSError, ValueError):
        return False
