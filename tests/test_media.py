"""bot.media on real files: every offered format in its slot and in the wrong ones, and broken copies.

The corpus is written by FFmpeg (PyAV) and Pillow into a temporary directory (tests/media_corpus.py);
a few files made elsewhere (ffmpeg's command line, espeak-ng, libheif) are committed in tests/fixtures.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import media
from tests import media_corpus as corpus
from tests.helpers import FIXTURES

SLOTS = (media.IMAGE, media.AUDIO, media.VIDEO)
ACCEPTED = {s.name: s for s in corpus.ACCEPTED_SAMPLES}
OTHERS = {s.name: s for s in corpus.OTHER_SAMPLES}


@pytest.fixture(scope="session")
def made(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("corpus")


def path_of(made: Path, name: str) -> Path:
    return corpus.make(made, ACCEPTED.get(name) or OTHERS[name])


def assert_plain_english(message: str) -> None:
    assert "\n" not in message
    assert not re.search(r"\ba (?:[aeiou]|MP|M4|AAC|AVI|Ogg)", message), message  # "a image", "a audio", "a MP3"
    assert not re.search(r"\ban (?:[b-df-hj-np-tv-z](?!P[34]|4A)|WAV|WebM|PNG|JPEG|GIF|FLAC|HEIC)", message), message


@pytest.mark.parametrize("name", ACCEPTED)
def test_every_offered_format_is_accepted_in_its_slot_at_its_length(made, name):
    sample = ACCEPTED[name]
    info = media.inspect(path_of(made, name), sample.kind)
    assert (info.kind, info.content_type) == (sample.kind, sample.content_type)
    if sample.seconds is None:
        assert info.seconds is None and info.width and info.height
    else:
        assert info.seconds == pytest.approx(sample.seconds, abs=0.3)
    assert info.to_json() == {"kind": sample.kind, "content_type": sample.content_type, "seconds": info.seconds}


@pytest.mark.parametrize("name", ACCEPTED)
def test_every_offered_format_is_refused_in_the_other_slots_for_what_it_is(made, name):
    sample = ACCEPTED[name]
    for slot in SLOTS:
        if slot == sample.kind:
            continue
        with pytest.raises(media.Refused) as caught:
            media.inspect(path_of(made, name), slot)
        message = str(caught.value)
        assert caught.value.reason == "wrong_kind"
        assert message.startswith(f"'{name}' is ") and sample.what in message, message
        assert message.endswith(media.needed(slot))
        assert_plain_english(message)


@pytest.mark.parametrize("name", OTHERS)
def test_formats_we_do_not_offer_are_named_in_every_slot(made, name):
    for slot in SLOTS:
        with pytest.raises(media.Refused) as caught:
            media.inspect(path_of(made, name), slot)
        assert OTHERS[name].what in str(caught.value) and str(caught.value).endswith(media.needed(slot))
        assert_plain_english(str(caught.value))


def broken_variants(made: Path, name: str, out: Path) -> list[Path]:
    good = path_of(made, name)
    sample = ACCEPTED[name]
    variants = [
        corpus.truncated(good, out, 0.5),
        corpus.header_only(good, out),
        corpus.empty(name, out),
        corpus.random_bytes(name, out),
    ]
    if sample.kind != media.AUDIO or sample.name.endswith((".wav", ".aac", ".flac", ".m4a")) or "cbr" in sample.name:
        variants.append(corpus.truncated(good, out, 0.9))  # cut near the end: found where the format lets us
    return variants


@pytest.mark.parametrize("name", ACCEPTED)
def test_broken_copies_are_refused_with_a_true_message(made, name, tmp_path):
    sample = ACCEPTED[name]
    for path in broken_variants(made, name, tmp_path):
        try:
            info = media.inspect(path, sample.kind)
        except media.Refused as refused:
            message = str(refused)
            assert message.startswith(f"'{path.name}' ") and message.endswith(media.needed(sample.kind))
            assert refused.reason in ("empty", "damaged", "truncated", "unknown"), message
            if path.stat().st_size == 0:
                assert "is empty (0 bytes)" in message
            elif path.name.startswith("random-"):
                assert "is not an image, audio or video file" in message
            else:
                assert "damaged" in message or "incomplete" in message, message
            assert_plain_english(message)
            continue
        # Formats whose header states no exact length, cut at a clean frame or page boundary: what is left
        # plays, and it is measured as such, never at the original length.
        assert path.name.startswith("truncated") and name.endswith((".ogg", ".opus", ".mp3")), (path.name, info)
        assert info.seconds is not None and info.seconds < sample.seconds * 0.95


def test_a_truncated_file_is_refused_or_measured_never_taken_at_its_header_length(made, tmp_path):
    wav = corpus.truncated(path_of(made, "ima-adpcm.wav"), tmp_path, 0.1)  # 90 s ADPCM cut to about 9 s
    with pytest.raises(media.Refused, match=r"its header says it plays 90\.1 s and its data ends at [89]\.\d s"):
        media.inspect(wav, media.AUDIO)
    pcm = corpus.truncated(path_of(made, "pcm.wav"), tmp_path, 0.5)  # no sample count: the cut packet tells
    with pytest.raises(media.Refused, match="breaks off in the middle of its data at 3.0 s"):
        media.inspect(pcm, media.AUDIO)
    vbr = corpus.truncated(path_of(made, "vbr-no-xing.mp3"), tmp_path, 0.9)  # nothing says how long it was
    assert 50 < media.inspect(vbr, media.AUDIO).seconds < 65


def test_renamed_files_are_what_their_bytes_are(made, tmp_path):
    mp3_as_png = corpus.renamed(path_of(made, "cbr.mp3"), tmp_path, ".png")
    assert media.inspect(mp3_as_png, media.AUDIO).content_type == "audio/mpeg"
    with pytest.raises(media.Refused, match=r"'renamed-cbr.png' is an MP3 audio file; an image is needed"):
        media.inspect(mp3_as_png, media.IMAGE)
    png_as_wav = corpus.renamed(path_of(made, "portrait.png"), tmp_path, ".wav")
    with pytest.raises(media.Refused, match=r"is a PNG image; an audio file is needed"):
        media.inspect(png_as_wav, media.AUDIO)
    webm_as_mp4 = corpus.renamed(path_of(made, "vp9-opus.webm"), tmp_path, ".mp4")
    assert media.inspect(webm_as_mp4, media.VIDEO).content_type == "video/webm"
    m4a_as_mp4 = corpus.renamed(path_of(made, "isom.m4a"), tmp_path, ".mp4")
    info = media.inspect(m4a_as_mp4, media.AUDIO)
    assert info.content_type == "audio/mp4" and media.upload_name("voice.mp4", info) == "voice.m4a"


def test_cover_art_is_not_a_video(made):
    with pytest.raises(
        media.Refused, match=r"is an MP3 audio file \(its picture is cover art, not a video\); a video is needed"
    ):
        media.inspect(path_of(made, "cover.mp3"), media.VIDEO)


def test_lengths_come_from_the_packets_not_the_header(made):
    # A VBR mp3 without a Xing header: a bitrate guess says about 15 s; it plays 70 s.
    assert media.inspect(path_of(made, "vbr-no-xing.mp3"), media.AUDIO).seconds == pytest.approx(70, abs=0.3)
    # ADPCM WAVs: 90 s.
    assert media.inspect(path_of(made, "ms-adpcm.wav"), media.AUDIO).seconds == pytest.approx(90, abs=0.3)


@pytest.mark.parametrize(
    "name,kind,content_type,seconds",
    [
        ("speech.wav", media.AUDIO, "audio/wav", 5.2),
        ("speech.mp3", media.AUDIO, "audio/mpeg", 5.3),
        ("a_aac_adts.aac", media.AUDIO, "audio/aac", 6.0),  # a bitrate guess says 12.4 s
        ("a_m4a_aac_isom.m4a", media.AUDIO, "audio/mp4", 6.0),
        ("a_ogg_opus_voicemsg.ogg", media.AUDIO, "audio/ogg", 6.0),
        ("clip.mp4", media.VIDEO, "video/mp4", 7.1),
        ("v_webm_vp9_opus.webm", media.VIDEO, "video/webm", 6.0),
        ("portrait.png", media.IMAGE, "image/png", None),
        ("portrait.jpg", media.IMAGE, "image/jpeg", None),
    ],
)
def test_files_made_by_other_tools(name, kind, content_type, seconds):
    info = media.inspect(FIXTURES / name, kind)
    assert info.content_type == content_type
    assert info.seconds == (None if seconds is None else pytest.approx(seconds, abs=0.3))


@pytest.mark.parametrize(
    "name,kind,message",
    [
        (
            "photo.heic",
            media.IMAGE,
            "'photo.heic' is a HEIC photo; an image is needed: PNG, JPEG, WebP, GIF or AVIF (up to 20 MB)",
        ),
        (
            "photo.heic",
            media.VIDEO,
            "'photo.heic' is a HEIC photo; a video is needed: MP4, QuickTime or WebM (up to 200 MB)",
        ),
        ("not-an-image.png", media.IMAGE, "'not-an-image.png' is a text file; an image is needed"),
        (
            "truncated.mp4",
            media.VIDEO,
            "'truncated.mp4' looks like an MP4 or QuickTime file but it is damaged or incomplete; a video",
        ),
        ("a_m4a_aac_isom.m4a", media.VIDEO, "is an M4A audio file (an MP4 with sound only); a video is needed"),
    ],
)
def test_refusals_say_what_the_file_really_is(name, kind, message):
    with pytest.raises(media.Refused) as caught:
        media.inspect(FIXTURES / name, kind)
    assert message in str(caught.value)
    assert_plain_english(str(caught.value))


def test_size_and_pixel_caps(tmp_path, monkeypatch):
    monkeypatch.setitem(media.MAX_BYTES, media.AUDIO, 1000)
    with pytest.raises(media.Refused, match=r"'speech.wav' is 0.2 MB; an audio file is needed: .* \(up to 0 MB\)"):
        media.inspect(FIXTURES / "speech.wav", media.AUDIO)
    monkeypatch.setattr(media, "MAX_IMAGE_PIXELS", 100_000)
    with pytest.raises(media.Refused, match=r"512×512 pixels"):
        media.inspect(FIXTURES / "portrait.png", media.IMAGE)


@pytest.mark.parametrize(
    "slot,declared,ok",
    [
        ("image", "image/png", True),
        ("image", "image/jpg", True),
        ("image", "IMAGE/JPEG", True),
        ("image", None, True),
        ("image", "application/octet-stream", True),
        ("audio", "audio/x-wav", True),
        ("audio", "audio/ogg; codecs=opus", True),
        ("audio", "audio/x-m4a", True),
        ("audio", "audio/mp3", True),
        ("audio", "video/mp4", True),  # an .mp4 with sound only
        ("audio", "audio/x-flac", True),
        ("video", "video/quicktime", True),
        ("video", "video/webm", True),
        ("image", "image/heic", False),
        ("image", "application/pdf", False),
        ("audio", "video/webm", False),
        ("video", "video/x-matroska", False),
        ("video", "audio/mp4", False),
        ("audio", "image/png", False),
    ],
)
def test_declared_content_types_clients_send(slot, declared, ok):
    if ok:
        media.check_declared(slot, declared, 1000, name="f")
        return
    with pytest.raises(media.Refused) as caught:
        media.check_declared(slot, declared, 1000, name="f")
    assert str(caught.value).startswith("'f' is ") and str(caught.value).endswith(media.needed(slot))
    assert_plain_english(str(caught.value))


def test_declared_messages_name_the_type():
    with pytest.raises(
        media.Refused, match=r"^'cv.pdf' is a PDF document \(application/pdf\); an image is needed: PNG, JPEG"
    ):
        media.check_declared(media.IMAGE, "application/pdf", 1000, name="cv.pdf")
    with pytest.raises(media.Refused, match=r"^'IMG_1.HEIC' is a HEIC photo \(image/heic\); an image is needed"):
        media.check_declared(media.IMAGE, "image/heic", 1000, name="IMG_1.HEIC")
    with pytest.raises(media.Refused, match=r"^'a.mp3' is an MP3 audio file \(audio/mpeg\); a video is needed"):
        media.check_declared(media.VIDEO, "audio/mpeg", 1000, name="a.mp3")
    with pytest.raises(media.Refused, match=r"^'long.wav' is 60.0 MB; an audio file is needed: .*\(up to 50 MB\)$"):
        media.check_declared(media.AUDIO, "audio/wav", 60 * 1024**2, name="long.wav")


def test_the_table_names_every_content_type_once_per_slot():
    for kind, formats in media.ACCEPTED.items():
        types = [t for f in formats for t in f.content_types]
        assert len(types) == len(set(types)), kind
        assert all(f.source for f in formats)
    assert media.accepted_text(media.AUDIO) == "MP3, WAV, Ogg, M4A, AAC or FLAC (up to 50 MB)"
    assert media.extensions_text(media.VIDEO) == "mp4, m4v, mov, webm"


def test_the_readme_lists_what_is_accepted_from_the_same_table():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert media.accepted_markdown() in readme
    assert "python -m bot.cli check --as image|audio|video FILE" in readme
