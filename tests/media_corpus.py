"""Real media files made by FFmpeg (through PyAV) and Pillow, for the media checks' tests.

Nothing here is committed media: every file is written on demand into a directory, in each format
the bot offers and in formats people send that it does not offer, with a known play length. Broken
variants (truncated, header only, empty, random bytes, renamed) are derived from the good ones.
"""

from __future__ import annotations

import io
import math
import os
import random
import struct
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw

IMAGE, AUDIO, VIDEO = "image", "audio", "video"
os.environ.setdefault("SVT_LOG", "1")  # the AV1 encoder's banner: errors only


@dataclass(frozen=True)
class Sample:
    """One generated file: what it is, which slot takes it (None: no slot) and how long it plays."""

    name: str  # file name, with its usual extension
    kind: str | None  # the slot that accepts it, or None when no slot does
    content_type: str | None  # what the check should report when accepted
    seconds: float | None  # true play length (None for images)
    make: Callable[[Path, float], None]
    what: str  # a word the refusal message must contain when the file is put in a wrong slot
    length: float = 6.0  # the length asked of the generator


# ---- signals


def _speechlike(rate: int, seconds: float, *, silent_tail: float = 0.0) -> bytes:
    """Mono s16 samples: a gliding tone with noise bursts, so encoders spend bits unevenly; silence at the end."""
    rng = random.Random(7)
    count = int(rate * seconds)
    quiet_from = int(rate * (seconds - silent_tail))
    out = array("h")
    phase = 0.0
    for i in range(count):
        if i >= quiet_from:
            out.append(0)
            continue
        t = i / rate
        phase += 2 * math.pi * (180 + 90 * math.sin(2 * math.pi * 0.7 * t)) / rate
        envelope = 0.5 + 0.5 * math.sin(2 * math.pi * 3 * t)
        noise = rng.uniform(-1, 1) if int(t * 5) % 2 else 0.0
        out.append(int(12000 * envelope * math.sin(phase) + 6000 * noise))
    return out.tobytes()


def _audio_frames(rate: int, seconds: float, *, silent_tail: float = 0.0, frame: int = 1024, layout: str = "mono"):
    pcm = _speechlike(rate, seconds, silent_tail=silent_tail)
    channels = 2 if layout == "stereo" else 1
    step = frame * 2
    for n, start in enumerate(range(0, len(pcm), step)):
        chunk = pcm[start : start + step]
        if channels == 2:  # interleaved: the same voice on both sides
            mono = array("h", chunk)
            both = array("h", (v for v in mono for _ in range(2)))
            chunk = both.tobytes()
        f = av.AudioFrame(format="s16", layout=layout, samples=len(chunk) // (2 * channels))
        f.planes[0].update(chunk)
        f.sample_rate = rate
        f.pts = n * frame
        f.time_base = Fraction(1, rate)
        yield f


def _picture(size: tuple[int, int] = (96, 96), shift: int = 0, mode: str = "RGB") -> Image.Image:
    img = Image.new(mode, size, (40, 90, 160) if mode == "RGB" else (40, 90, 160, 255))
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.ellipse((w // 5 + shift % 8, h // 6, 4 * w // 5 + shift % 8, 5 * h // 6), fill=(230, 190, 160))
    draw.rectangle((w // 3, 2 * h // 3, 2 * w // 3, 2 * h // 3 + 4 + shift % 5), fill=(120, 30, 30))
    return img


# ---- writers


def _write_audio(
    path: Path,
    seconds: float,
    *,
    fmt: str,
    codec: str,
    rate: int = 24000,
    options: dict | None = None,
    codec_options: dict | None = None,
    bit_rate: int | None = None,
    silent_tail: float = 0.0,
    layout: str = "mono",
) -> None:
    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        stream = out.add_stream(codec, rate=rate, options=codec_options or {})
        stream.layout = layout
        if bit_rate:
            stream.bit_rate = bit_rate
        for frame in _audio_frames(rate, seconds, silent_tail=silent_tail, layout=layout):
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _write_video(
    path: Path,
    seconds: float,
    *,
    fmt: str,
    vcodec: str,
    acodec: str | None,
    fps: int = 10,
    size: tuple[int, int] = (96, 96),
    rate: int = 48000,
    options: dict | None = None,
    pix_fmt: str = "yuv420p",
    vcodec_options: dict | None = None,
    layout: str = "mono",
) -> None:
    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        video = out.add_stream(vcodec, rate=fps, options=vcodec_options or {})
        video.width, video.height, video.pix_fmt = size[0], size[1], pix_fmt
        audio = None
        if acodec:
            audio = out.add_stream(acodec, rate=rate, options={"strict": "experimental"} if acodec == "vorbis" else {})
            audio.layout = layout
        frames = int(seconds * fps)
        for i in range(frames):
            frame = av.VideoFrame.from_image(_picture(size, i))
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if audio is not None:
            for frame in _audio_frames(rate, seconds, layout=layout):
                for packet in audio.encode(frame):
                    out.mux(packet)
            for packet in audio.encode(None):
                out.mux(packet)


def _mp3_vbr_without_xing(path: Path, seconds: float) -> None:
    """A VBR mp3 with no Xing/VBRI header: loud 320 kb/s frames first, then 32 kb/s silence, as raw frames.

    A reader that trusts the first frame's bitrate takes it for far shorter than it plays.
    """
    parts = []
    loud = max(1.0, seconds / 8)
    for part_seconds, bit_rate, tail in ((loud, 320_000, 0.0), (seconds - loud, 32_000, seconds - loud)):
        buffer = io.BytesIO()
        with av.open(
            buffer, "w", format="mp3", options={"write_xing": "0", "id3v2_version": "0", "write_id3v1": "0"}
        ) as out:
            stream = out.add_stream("libmp3lame", rate=44100)
            stream.layout = "mono"
            stream.bit_rate = bit_rate
            for frame in _audio_frames(44100, part_seconds, silent_tail=tail, frame=1152):
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        parts.append(buffer.getvalue())
    path.write_bytes(b"".join(parts))


def _id3_with_cover(picture: bytes) -> bytes:
    """An ID3v2.3 tag holding one APIC (front cover) frame."""
    body = b"\x00" + b"image/png\x00" + b"\x03" + b"\x00" + picture
    frame = b"APIC" + struct.pack(">I", len(body)) + b"\x00\x00" + body
    size = len(frame)
    syncsafe = bytes(((size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F))
    return b"ID3\x03\x00\x00" + syncsafe + frame


def _png_bytes(size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    _picture(size).save(buffer, "PNG")
    return buffer.getvalue()


def _mp3_with_cover(path: Path, seconds: float) -> None:
    _write_audio(path, seconds, fmt="mp3", codec="libmp3lame", rate=44100, bit_rate=64000)
    data = path.read_bytes()
    path.write_bytes(_id3_with_cover(_png_bytes()) + data)


def _image(fmt: str, **save: object) -> Callable[[Path, float], None]:
    def make(path: Path, _seconds: float) -> None:
        mode = "RGBA" if fmt in ("PNG-RGBA",) else "RGB"
        img = _picture((160, 200), mode=mode)
        if fmt == "GIF":
            frames = [_picture((160, 200), i * 3).convert("P") for i in range(4)]
            frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
            return
        if fmt == "P":
            img.convert("P").save(path, "PNG")
            return
        img.save(path, fmt.split("-")[0], **save)

    return make


def _played(write, name, content_type, what, kind, kw) -> Sample:
    """A sample that plays for `length` seconds (6 unless given), written by `write`."""
    length = kw.pop("length", 6.0)
    return Sample(
        name,
        kind,
        content_type if kind else None,
        length if kind else None,
        lambda p, s: write(p, s, **kw),
        what,
        length,
    )


def audio(name, content_type, what, kind=AUDIO, **kw) -> Sample:
    return _played(_write_audio, name, content_type, what, kind, kw)


def video(name, content_type, what, kind=VIDEO, **kw) -> Sample:
    return _played(_write_video, name, content_type, what, kind, kw)


ACCEPTED_SAMPLES: list[Sample] = [
    # audio, every container and common codec the audio input offers
    audio("cbr.mp3", "audio/mpeg", "MP3", fmt="mp3", codec="libmp3lame", rate=44100, bit_rate=64000),
    Sample("vbr-no-xing.mp3", AUDIO, "audio/mpeg", 70.0, _mp3_vbr_without_xing, "MP3", 70.0),
    Sample("cover.mp3", AUDIO, "audio/mpeg", 6.0, _mp3_with_cover, "MP3"),
    audio("pcm.wav", "audio/wav", "WAV", fmt="wav", codec="pcm_s16le", rate=22050),
    audio("float.wav", "audio/wav", "WAV", fmt="wav", codec="pcm_f32le", rate=16000),
    audio("ima-adpcm.wav", "audio/wav", "WAV", fmt="wav", codec="adpcm_ima_wav", rate=8000, length=90.0),
    audio("ms-adpcm.wav", "audio/wav", "WAV", fmt="wav", codec="adpcm_ms", rate=8000, length=90.0),
    audio(
        "vorbis.ogg",
        "audio/ogg",
        "Ogg",
        fmt="ogg",
        codec="vorbis",
        rate=44100,
        layout="stereo",
        codec_options={"strict": "experimental"},
    ),
    audio("voice-message.ogg", "audio/ogg", "Ogg", fmt="ogg", codec="libopus", rate=48000),
    audio("speech.opus", "audio/ogg", "Ogg", fmt="opus", codec="libopus", rate=48000),
    audio("itunes.m4a", "audio/mp4", "M4A", fmt="ipod", codec="aac", rate=44100),
    audio("isom.m4a", "audio/mp4", "M4A", fmt="mp4", codec="aac", rate=44100),
    audio("alac.m4a", "audio/mp4", "M4A", fmt="ipod", codec="alac", rate=22050),
    audio("adts.aac", "audio/aac", "AAC", fmt="adts", codec="aac", rate=44100),
    audio("lossless.flac", "audio/flac", "FLAC", fmt="flac", codec="flac", rate=22050),
    # video
    video("h264-aac.mp4", "video/mp4", "MP4", fmt="mp4", vcodec="libx264", acodec="aac"),
    video(
        "faststart.mp4",
        "video/mp4",
        "MP4",
        fmt="mp4",
        vcodec="libx264",
        acodec="aac",
        options={"movflags": "faststart"},
    ),
    video("silent.mp4", "video/mp4", "MP4", fmt="mp4", vcodec="libx264", acodec=None),
    video(
        "hevc.mp4",
        "video/mp4",
        "MP4",
        fmt="mp4",
        vcodec="libx265",
        acodec="aac",
        vcodec_options={"x265-params": "log-level=none"},
    ),
    video("mpeg4.mp4", "video/mp4", "MP4", fmt="mp4", vcodec="mpeg4", acodec="aac"),
    video("phone.mov", "video/quicktime", "QuickTime", fmt="mov", vcodec="libx264", acodec="aac"),
    video("vp9-opus.webm", "video/webm", "WebM", fmt="webm", vcodec="libvpx-vp9", acodec="libopus"),
    video("vp8-vorbis.webm", "video/webm", "WebM", fmt="webm", vcodec="libvpx", acodec="vorbis", layout="stereo"),
    video("av1.webm", "video/webm", "WebM", fmt="webm", vcodec="libsvtav1", acodec="libopus", size=(128, 128)),
    # images
    Sample("portrait.png", IMAGE, "image/png", None, _image("PNG"), "PNG"),
    Sample("alpha.png", IMAGE, "image/png", None, _image("PNG-RGBA"), "PNG"),
    Sample("palette.png", IMAGE, "image/png", None, _image("P"), "PNG"),
    Sample("photo.jpg", IMAGE, "image/jpeg", None, _image("JPEG", quality=85), "JPEG"),
    Sample("progressive.jpeg", IMAGE, "image/jpeg", None, _image("JPEG", progressive=True), "JPEG"),
    Sample("lossy.webp", IMAGE, "image/webp", None, _image("WEBP", quality=80), "WebP"),
    Sample("lossless.webp", IMAGE, "image/webp", None, _image("WEBP", lossless=True), "WebP"),
    Sample("animated.gif", IMAGE, "image/gif", None, _image("GIF"), "GIF"),
    Sample("photo.avif", IMAGE, "image/avif", None, _image("AVIF", quality=60), "AVIF"),
]

# Real formats the bot does not offer: refused in every slot, named for what they are.
OTHER_SAMPLES: list[Sample] = [
    video("h264.mkv", None, "Matroska", kind=None, fmt="matroska", vcodec="libx264", acodec="aac"),
    video("old.avi", None, "AVI", kind=None, fmt="avi", vcodec="mpeg4", acodec="libmp3lame"),
    audio("recording.webm", None, "WebM", kind=None, fmt="webm", codec="libopus", rate=48000),
    Sample("scan.bmp", None, None, None, _image("BMP"), "BMP"),
    Sample("scan.tiff", None, None, None, _image("TIFF"), "TIFF"),
]


def make(directory: Path, sample: Sample) -> Path:
    path = directory / sample.name
    if not path.exists():
        sample.make(path, sample.length)
    return path


# ---- broken variants


def truncated(path: Path, directory: Path, fraction: float = 0.5) -> Path:
    data = path.read_bytes()
    out = directory / f"truncated{round(fraction * 100)}-{path.name}"
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def header_only(path: Path, directory: Path) -> Path:
    """The bytes before the media data: up to `mdat` in an MP4 with its index first, else the first 256 bytes."""
    data = path.read_bytes()
    cut = 256
    at = data.find(b"mdat")
    if at > 0 and data.find(b"moov") < at:
        cut = at + 4
    out = directory / f"header-{path.name}"
    out.write_bytes(data[:cut])
    return out


def empty(name: str, directory: Path) -> Path:
    out = directory / f"empty-{name}"
    out.write_bytes(b"")
    return out


def random_bytes(name: str, directory: Path, size: int = 20_000) -> Path:
    out = directory / f"random-{name}"
    out.write_bytes(random.Random(name).randbytes(size))
    return out


def renamed(path: Path, directory: Path, extension: str) -> Path:
    out = directory / f"renamed-{path.stem}{extension}"
    out.write_bytes(path.read_bytes())
    return out
