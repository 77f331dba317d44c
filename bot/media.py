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
from babel.numbers import format_decimal
from PIL import Image

from bot import i18n
from bot.i18n import Number, Text, _

IMAGE, AUDIO, VIDEO = "image", "audio", "video"
KINDS = (IMAGE, AUDIO, VIDEO)
A_KIND = {IMAGE: "an image", AUDIO: "an audio file", VIDEO: "a video"}  # English, for code that glues words
A_KIND_TEXT: dict[str, Text] = {IMAGE: _("an image"), AUDIO: _("an audio file"), VIDEO: _("a video")}


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


class Megabytes(Number):
    """A file's size in MB, one digit after the locale's decimal sign and no grouping ('10240.0', '10240,0'), as
    the messages have always shown it."""

    def __init__(self, size: int) -> None:
        super().__init__(size / 1024**2, 1)

    def __format__(self, spec: str) -> str:
        return format_decimal(self.value, format="0.0", locale=i18n.babel_locale(i18n.current()))


def well_short(claimed: float, played: float) -> bool:
    """Whether the packets stop well short of the header's length (not a rounding or priming difference)."""
    return claimed - played > max(0.5, 0.03 * claimed)


# ---- what the user is told


class Refused(ValueError):
    """A file that is not accepted. str() is the message for the person who sent it, in the locale of the moment
    (`message` keeps it as a bot.i18n Text, to be shown in another)."""

    def __init__(self, message: str | Text, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason  # empty | too_big | wrong_kind | not_offered | damaged | truncated | unknown

    def __str__(self) -> str:
        return i18n.text(self.message)


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


def _join(words: list[str]) -> Text | str:
    if len(words) == 1:
        return words[0]
    # Translators: the last of several choices, e.g. "PNG, JPEG, WebP, GIF or AVIF"
    return _("{choices} or {last}", choices=", ".join(words[:-1]), last=words[-1])


def accepted_message(kind: str) -> Text:
    """'PNG, JPEG, WebP, GIF or AVIF (up to 20 MB)'."""
    return _(
        "{formats} (up to {megabytes} MB)",
        formats=_join([f.name for f in ACCEPTED[kind]]),
        megabytes=Number(MAX_BYTES[kind] // 1024**2),
    )


def accepted_text(kind: str) -> str:
    """accepted_message, in the locale of the moment."""
    return str(accepted_message(kind))


def needed_message(kind: str) -> Text:
    accepted = accepted_message(kind)
    if kind == IMAGE:
        return _("an image is needed: {accepted}", accepted=accepted)
    if kind == AUDIO:
        return _("an audio file is needed: {accepted}", accepted=accepted)
    return _("a video is needed: {accepted}", accepted=accepted)


def needed(kind: str) -> str:
    """needed_message, in the locale of the moment."""
    return str(needed_message(kind))


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


def _a_kind_of(name: str, kind: str | None) -> Text:
    """'an MP3 audio file', 'a WebM video', 'a PNG image', 'an AVI file': a format's name and what it holds."""
    an = _a(name).startswith("an ")
    if kind == IMAGE:
        return _("an {format} image", format=name) if an else _("a {format} image", format=name)
    if kind == AUDIO:
        return _("an {format} audio file", format=name) if an else _("a {format} audio file", format=name)
    if kind == VIDEO:
        return _("an {format} video", format=name) if an else _("a {format} video", format=name)
    return _("an {format} file", format=name) if an else _("a {format} file", format=name)


def _refuse(problem: Text, kind: str, reason: str) -> Refused:
    """`problem` names the file ('{name}' …); what the input needs follows."""
    # Translators: a file refused, then what is accepted: "'x.pdf' is a PDF document; an image is needed: PNG, …"
    return Refused(_("{problem}; {needed}", problem=problem, needed=needed_message(kind)), reason)


def _is(label: str, what: Text | str) -> Text:
    return _("'{name}' is {what}", name=label, what=what)


# Declared content types we can name, whether or not they are accepted (for messages only).
_DECLARED_NAMES = {
    "image/heic": _("a HEIC photo"),
    "image/heif": _("a HEIF photo"),
    "image/heic-sequence": _("a HEIC photo"),
    "image/bmp": _("a BMP image"),
    "image/tiff": _("a TIFF image"),
    "image/svg+xml": _("an SVG drawing"),
    "image/x-icon": _("an icon"),
    "image/vnd.microsoft.icon": _("an icon"),
    "video/x-matroska": _("a Matroska (MKV) video"),
    "video/x-msvideo": _("an AVI video"),
    "video/avi": _("an AVI video"),
    "video/mpeg": _("an MPEG video"),
    "video/3gpp": _("a 3GP video"),
    "video/x-ms-wmv": _("a Windows Media video"),
    "video/ogg": _("an Ogg video"),
    "video/x-flv": _("a Flash video"),
    "video/mp2t": _("an MPEG-TS video"),
    "audio/webm": _("a WebM audio file"),
    "audio/x-ms-wma": _("a Windows Media audio file"),
    "audio/aiff": _("an AIFF audio file"),
    "audio/x-aiff": _("an AIFF audio file"),
    "audio/amr": _("an AMR audio file"),
    "audio/3gpp": _("a 3GP audio file"),
    "audio/midi": _("a MIDI file"),
    "audio/x-caf": _("a CAF audio file"),
    "application/pdf": _("a PDF document"),
    "application/zip": _("a ZIP archive"),
    "text/plain": _("a text file"),
    "text/html": _("a web page"),
    "application/json": _("a JSON file"),
    "application/msword": _("a Word document"),
}


def describe_declared_message(content_type: str) -> Text:
    """'an MP3 audio file (audio/mpeg)', 'a PDF document (application/pdf)', 'declared as x/y'."""
    for kind, formats in ACCEPTED.items():
        for f in formats:
            if content_type in f.content_types and not (f is M4A and content_type == "video/mp4"):
                return _("{what} ({content_type})", what=_a_kind_of(f.name, kind), content_type=content_type)
    name = _DECLARED_NAMES.get(content_type)
    if name is not None:
        return _("{what} ({content_type})", what=name, content_type=content_type)
    return _("declared as {content_type}", content_type=content_type)


def describe_declared(content_type: str) -> str:
    """describe_declared_message, in the locale of the moment."""
    return str(describe_declared_message(content_type))


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
        raise _refuse(_is(name, describe_declared_message(declared)), kind, "wrong_kind")
    extension = Path(name).suffix.lower().lstrip(".")
    known = {e for formats in ACCEPTED.values() for f in formats for e in f.extensions}
    if declared is None and extension and extension not in known:
        raise _refuse(
            _(
                "'{name}' is a .{extension} file by its name and declares no media type",
                name=name,
                extension=extension,
            ),
            kind,
            "wrong_kind",
        )
    if declared is None and named_only and extension not in {e for f in ACCEPTED[kind] for e in f.extensions}:
        problem = (
            _(
                "'{name}' declares no media type and is a .{extension} file by its name; "
                "name it for what it is ({extensions})",
                name=name,
                extension=extension,
                extensions=extensions_text(kind),
            )
            if extension
            else _(
                "'{name}' declares no media type and has no file extension; name it for what it is ({extensions})",
                name=name,
                extensions=extensions_text(kind),
            )
        )
        raise _refuse(problem, kind, "unknown")
    if size == 0:
        raise _refuse(_("'{name}' is empty (0 bytes)", name=name), kind, "empty")
    if size is not None and size > MAX_BYTES[kind]:
        raise _refuse(_("'{name}' is {megabytes} MB", name=name, megabytes=Megabytes(size)), kind, "too_big")


def upload_name(name: str, info: MediaInfo) -> str:
    """A safe file name that ends in the extension of what the file really is ('voice.mp4' → 'voice.m4a')."""
    stem = Path(os.path.basename(name or "")).stem
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem).strip("._")[:80] or info.kind
    return stem + info.format.extension


# ---- images (Pillow)

_PILLOW_FORMATS = ["PNG", "JPEG", "WEBP", "GIF", "AVIF", "BMP", "TIFF", "ICO", "PSD", "JPEG2000"]
_PILLOW_ACCEPTED = {"PNG": PNG, "JPEG": JPEG, "MPO": JPEG, "WEBP": WEBP, "GIF": GIF, "AVIF": AVIF}
_PILLOW_NAMES = {
    "BMP": _("a BMP image"),
    "TIFF": _("a TIFF image"),
    "ICO": _("an icon"),
    "PSD": _("a Photoshop document"),
    "JPEG2000": _("a JPEG 2000 image"),
}


def _inspect_image(path: Path, expected: str, label: str) -> MediaInfo | None:
    """The image's MediaInfo, Refused, or None when Pillow does not recognise the file."""
    Image.init()  # registers every plugin once, so `formats` below finds them
    try:
        image = Image.open(path, formats=_PILLOW_FORMATS)
    except Image.DecompressionBombError:
        raise _refuse(
            _(
                "'{name}' is an image of more than {megapixels} megapixels (up to {most} are accepted)",
                name=label,
                megapixels=Number(2 * (Image.MAX_IMAGE_PIXELS or 0) // 1_000_000),
                most=Number(MAX_IMAGE_PIXELS // 1_000_000),
            ),
            expected,
            "too_big",
        ) from None
    except Exception:  # noqa: BLE001 - whatever Pillow cannot open is left to FFmpeg, then described
        return None
    with image:
        fmt = _PILLOW_ACCEPTED.get(image.format or "")
        what = (
            _a_kind_of(fmt.name, IMAGE)
            if fmt
            else _PILLOW_NAMES.get(image.format or "", _a_kind_of(image.format or "", IMAGE))
        )
        if expected != IMAGE:
            raise _refuse(_is(label, what), expected, "wrong_kind")
        if fmt is None:
            raise _refuse(_is(label, what), expected, "not_offered")
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise _refuse(
                _(
                    "'{name}' is {what} of {width}×{height} pixels ({megapixels} megapixels; up to {most} are accepted)",
                    name=label,
                    what=what,
                    width=width,
                    height=height,
                    megapixels=Number(width * height / 1e6, 0),
                    most=Number(MAX_IMAGE_PIXELS // 1_000_000),
                ),
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
            raise _refuse(_undecodable(label, what), expected, "damaged") from None
    if fmt is PNG:  # the chunks' checksums, which decoding the pixels does not look at
        try:
            with Image.open(path, formats=["PNG"]) as again:
                again.verify()
        except Exception:  # noqa: BLE001
            raise _refuse(
                _("'{name}' is {what} but it is damaged (its checksums do not match)", name=label, what=what),
                expected,
                "damaged",
            ) from None
    return MediaInfo(IMAGE, fmt, None, width, height, (fmt.name.lower(),))


def _undecodable(label: str, what: Text) -> Text:
    return _("'{name}' is {what} but it is damaged or incomplete (it cannot be decoded)", name=label, what=what)


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
_PIPE_NAMES = {"bmp": _("a BMP image"), "tiff": _("a TIFF image"), "svg": _("an SVG drawing"), "image2": _("an image")}


def _brands(container: Any) -> tuple[str, set[str]]:
    meta = container.metadata
    major = meta.get("major_brand", "").strip()
    compatible = meta.get("compatible_brands", "")
    return major, {major} | {compatible[i : i + 4].strip() for i in range(0, len(compatible), 4)} - {""}


def _identify(container: Any, kind: str | None) -> tuple[Format | None, Text, str | None]:
    """From the container and its streams: the format (None when no input takes it), words for it, and its kind.

    The kind comes from the streams, except for still-image containers (HEIC, AVIF, image pipes).
    """
    family = container.format.name
    codecs = {_codec_name(s) for s in container.streams if s.type in (AUDIO, VIDEO)}
    if family.startswith("mov,"):
        major, brands = _brands(container)
        if major in _AVIF_BRANDS:
            return AVIF, _("an AVIF image"), IMAGE
        if major in _HEIF_BRANDS or (brands & _HEIF_BRANDS and not brands & {"isom", "mp41", "mp42", "qt"}):
            return None, _("a HEIC photo"), IMAGE
        if major.startswith("3g"):
            return None, _a_kind_of("3GP", kind), kind
        if kind == AUDIO:
            return (
                M4A,
                _("an M4A audio file") if major == "M4A" else _("an M4A audio file (an MP4 with sound only)"),
                kind,
            )
        if major == "qt":
            return MOV, _("a QuickTime video"), kind
        return MP4, _("an MP4 video"), kind
    if family == "matroska,webm":
        if codecs <= _WEBM_CODECS:
            return (WEBM if kind == VIDEO else None), _a_kind_of("WebM", kind), kind
        return None, _a_kind_of("Matroska (MKV)", kind), kind
    simple = {"mp3": MP3, "wav": WAV, "ogg": OGG, "flac": FLAC, "aac": AAC}
    if family in simple:
        fmt = simple[family]
        if kind == VIDEO:  # Ogg Theora and the like
            return None, _a_kind_of(fmt.name, VIDEO), kind
        return fmt, _a_kind_of(fmt.name, AUDIO), kind
    if family.endswith("_pipe") or family in ("image2", "gif", "apng"):
        name = family.removesuffix("_pipe")
        image = _PIPE_FORMATS.get(name)
        return (
            image,
            (_a_kind_of(image.name, IMAGE) if image else _PIPE_NAMES.get(name, _a_kind_of(name.upper(), IMAGE))),
            IMAGE,
        )
    name = _CONTAINER_NAMES.get(family.split(",")[0], container.format.long_name or family)
    return None, _a_kind_of(name, kind), kind


def _what_unreadable(path: Path, label: str) -> Text:
    """Words for a file that neither Pillow nor FFmpeg can open, from its leading bytes (for the message only)."""
    with open(path, "rb") as f:
        head = f.read(512)
    signatures = [
        (b"\x89PNG", _("a PNG image")),
        (b"\xff\xd8\xff", _("a JPEG image")),
        (b"GIF8", _("a GIF image")),
        (b"RIFF", _("a RIFF (WAV or WebP) file")),
        (b"ID3", _("an MP3 audio file")),
        (b"OggS", _("an Ogg file")),
        (b"fLaC", _("a FLAC audio file")),
        (b"\x1a\x45\xdf\xa3", _("a WebM or Matroska file")),
    ]
    damaged = None
    for magic, what in signatures:
        if head.startswith(magic):
            damaged = what
            break
    else:
        if len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
            damaged = _("an AAC audio file")
        elif len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
            damaged = _("an MP3 audio file")
        elif head[4:8] == b"ftyp":
            damaged = _("an MP4 or QuickTime file")
    if damaged is not None:
        return _("'{name}' looks like {what} but it is damaged or incomplete", name=label, what=damaged)
    if head.startswith(b"%PDF"):
        return _is(label, _("a PDF document"))
    if head.startswith(b"PK\x03\x04"):
        return _is(label, _("a ZIP archive (or an Office document)"))
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in "\r\n\t" for c in text):
        return _is(label, _("a text file"))
    return _("'{name}' is not an image, audio or video file (its contents match no format we know)", name=label)


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
            raise _refuse(_what_unreadable(path, label), expected, "unknown") from None
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
                raise _refuse(_undecodable(label, what), expected, "damaged")
            if kind is None:
                if not any(s.type == "subtitle" for s in container.streams):  # opened, but nothing inside makes sense
                    raise _refuse(_what_unreadable(path, label), expected, "unknown")
                raise _refuse(
                    _("'{name}' is {what} with no audio or video in it", name=label, what=what), expected, "wrong_kind"
                )
            if kind != expected or fmt is None or fmt not in ACCEPTED[expected]:
                if kind == AUDIO and expected == VIDEO and cover_art:
                    what = _("{what} (its picture is cover art, not a video)", what=what)
                raise _refuse(_is(label, what), expected, "wrong_kind" if kind != expected else "not_offered")
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
    if own is None:
        holds_none = (
            _("'{name}' is {what} but it holds no video (it is damaged or incomplete)", name=label, what=what)
            if kind == VIDEO
            else _("'{name}' is {what} but it holds no audio (it is damaged or incomplete)", name=label, what=what)
        )
        raise _refuse(holds_none, expected, "truncated")
    if claimed is not None and well_short(claimed, played):
        raise _refuse(
            _(
                "'{name}' is {what} but it is incomplete: its header says it plays {claimed} s and its data ends at "
                "{played} s",
                name=label,
                what=what,
                claimed=Number(claimed, 1),
                played=Number(played, 1),
            ),
            expected,
            "truncated",
        )
    if cut_short:
        raise _refuse(
            _(
                "'{name}' is {what} but it is incomplete: it breaks off in the middle of its data at {played} s",
                name=label,
                what=what,
                played=Number(played, 1),
            ),
            expected,
            "truncated",
        )
    if not decoder.ok:
        undecoded = (
            _(
                "'{name}' is {what} but its video cannot be decoded (it is damaged, or its {codec} codec is not one "
                "we can read)",
                name=label,
                what=what,
                codec=codec,
            )
            if kind == VIDEO
            else _(
                "'{name}' is {what} but its audio cannot be decoded (it is damaged, or its {codec} codec is not one "
                "we can read)",
                name=label,
                what=what,
                codec=codec,
            )
        )
        raise _refuse(undecoded, expected, "damaged")
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
        raise _refuse(_("'{name}' is empty (0 bytes)", name=label), expected, "empty")
    if size > MAX_BYTES[expected]:
        raise _refuse(_("'{name}' is {megabytes} MB", name=label, megabytes=Megabytes(size)), expected, "too_big")
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
