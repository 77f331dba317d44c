"""Content credentials: real C2PA manifests made with c2pa-python on a real MP4, read back with c2pa's Reader; the
bot's own signer kept in each kind of store; C2PA_CERT and C2PA_KEY checked at start."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
from pathlib import Path

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bot import provenance
from bot.fal import catalog
from bot.fal.catalog import Kind
from bot.jobs import results
from bot.jobs.model import Job
from bot.jobs.spec import Command, JobSpec, Source
from bot.settings import SettingsError, load_settings, parse_database
from bot.store import open_store
from tests import helpers
from tests.helpers import FIXTURES
from tests.test_startup import one_line_error, start_bot, start_env

FABRIC = catalog.get_model("veed/fabric-1.0", Kind.TALKING_HEAD)
SPEECH = catalog.get_model(None, Kind.TTS)
BASE = {"DISCORD_TOKEN": "t", "FAL_KEY": "k"}


def assert_ai_generated_by(path: Path, model: catalog.Model) -> dict:
    return helpers.assert_ai_generated_by(path, model.name, model.endpoint_id)


def video(tmp_path: Path, name: str = "clip.mp4") -> Path:
    copy = tmp_path / "out" / name
    copy.parent.mkdir(exist_ok=True)
    shutil.copyfile(FIXTURES / "clip.mp4", copy)
    return copy


def test_a_signed_video_declares_it_ai_generated_and_names_the_model(tmp_path):
    path = video(tmp_path)
    provenance.sign_file(provenance.make(), path, FABRIC)
    created = assert_ai_generated_by(path, FABRIC)
    assert created["description"] == "Generated with AI by VEED Fabric 1.0 (fal.ai endpoint veed/fabric-1.0)"
    assert path.stat().st_size > (FIXTURES / "clip.mp4").stat().st_size
    assert sorted(p.name for p in path.parent.iterdir()) == ["clip.mp4"]  # the signed copy replaced it, no leftovers


def test_a_spoken_video_names_the_speech_model_too(tmp_path):
    job = Job(
        id="abcd1234",
        user_id=1,
        spec=JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", image_url="https://x/p.png", text="Hi"),
        sources={"image": Source("image", "https://x/p.png", True, "p.png")},
    )
    assert provenance.models_of(job) == (FABRIC, SPEECH)
    path = video(tmp_path)
    provenance.sign_file(provenance.make(), path, *provenance.models_of(job))
    created = assert_ai_generated_by(path, FABRIC)
    assert f"speech by {SPEECH.name} (fal.ai endpoint {SPEECH.endpoint_id})" in created["description"]


def test_a_file_that_cannot_be_signed_is_left_as_it_was(tmp_path):
    broken = tmp_path / "truncated.mp4"
    shutil.copyfile(FIXTURES / "not-an-image.png", broken)
    before = broken.read_bytes()
    with pytest.raises(c2pa.C2paError):
        provenance.sign_file(provenance.make(), broken, FABRIC)
    assert broken.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["truncated.mp4"]


async def test_a_failed_signing_still_attaches_the_video_and_says_so(tmp_path, caplog):
    """bot.jobs.results: a video signing fails on is kept (never lost), marked unsigned, with a warning that carries
    no key."""
    path = video(tmp_path)
    credentials = provenance.make()
    wrong = provenance.Credentials(credentials.chain, provenance.make().key)  # a key the certificate does not match
    job = Job(id="abcd1234", user_id=1, spec=JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", text="Hi"))
    bad, good = provenance.Signer(wrong), provenance.Signer(credentials)
    try:
        with caplog.at_level(logging.WARNING):
            assert await results._sign(job, path, bad) is False
            assert await results._sign(job, path, good) is True
    finally:
        await bad.close()
        await good.close()
    assert "could not be given content credentials" in caplog.text and "PRIVATE KEY" not in caplog.text
    assert_ai_generated_by(path, FABRIC)


async def test_the_signing_process_is_started_again_when_it_dies(tmp_path, caplog):
    """The signer runs in a process of its own (c2pa's file callbacks would contend with the event loop): a video
    whose signing the process died under is attached unsigned, and the next one is signed by a new process."""
    job = Job(id="abcd1234", user_id=1, spec=JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", text="Hi"))
    signer = provenance.Signer(provenance.make())
    try:
        first = video(tmp_path, "first.mp4")
        assert await results._sign(job, first, signer) is True
        process = signer._process
        assert process is not None and process.pid != os.getpid()
        os.kill(process.pid, signal.SIGSTOP)  # caught in the middle of a video: its answer never comes
        second = asyncio.create_task(results._sign(job, video(tmp_path, "second.mp4"), signer))
        await asyncio.sleep(0.3)
        process.kill()
        with caplog.at_level(logging.WARNING):
            assert await second is False
        third = video(tmp_path, "third.mp4")
        assert await results._sign(job, third, signer) is True
        assert signer._process is not process
        assert_ai_generated_by(third, FABRIC)
    finally:
        await signer.close()


async def test_the_store_keeps_one_signer_for_every_start_and_every_process(store, database_url):
    first = await provenance.stored(store)
    assert first.made and first.alg == "es256" and "PRIVATE KEY" not in repr(first)
    again = await open_store(parse_database(database_url))  # a later start, or another process of the cluster
    try:
        assert (await provenance.stored(again)).chain == first.chain
    finally:
        await again.close()
    # two processes starting at once, each with credentials it just made: the first writer wins for both
    a, b = provenance.make(), provenance.make()
    kept = await asyncio.gather(
        store.keep_credentials("race", a.chain.decode(), a.key.decode()),
        store.keep_credentials("race", b.chain.decode(), b.key.decode()),
    )
    assert kept[0] == kept[1] and kept[0][0] in (a.chain.decode(), b.chain.decode())


def write_pems(folder: Path, credentials: provenance.Credentials) -> dict[str, str]:
    (folder / "chain.pem").write_bytes(credentials.chain)
    (folder / "key.pem").write_bytes(credentials.key)
    return {"C2PA_CERT": str(folder / "chain.pem"), "C2PA_KEY": str(folder / "key.pem")}


def test_c2pa_cert_and_key_settings_are_used(tmp_path):
    own = provenance.make()
    settings = load_settings({**BASE, **write_pems(tmp_path, own)})
    assert settings.c2pa is not None and settings.c2pa.chain == own.chain and not settings.c2pa.made
    assert "PRIVATE KEY" not in repr(settings) and "PRIVATE KEY" not in repr(settings.c2pa)
    assert load_settings(BASE).c2pa is None  # neither set: the bot's own signer, from the store


def self_signed(folder: Path) -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "me")])
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return write_pems(folder, provenance.Credentials(cert.public_bytes(serialization.Encoding.PEM), pem))


@pytest.mark.parametrize(
    "case,expected",
    [
        ("only_cert", "C2PA_CERT and C2PA_KEY go together"),
        ("missing", "C2PA_CERT '/nonexistent/chain.pem' cannot be read"),
        ("not_pem", "C2PA_CERT holds no PEM certificate"),
        ("bad_key", "C2PA_KEY holds no unencrypted PEM private key"),
        ("encrypted", "C2PA_KEY is encrypted with a password"),
        ("other_key", "C2PA_KEY is not the key of the first certificate in C2PA_CERT"),
        ("self_signed", "self-signed, which C2PA refuses"),
        ("no_eku", "c2pa refuses to sign with C2PA_CERT and C2PA_KEY"),
    ],
)
def test_bad_c2pa_settings_are_refused_at_start(tmp_path, case, expected):
    own = provenance.make()
    env = write_pems(tmp_path, own)
    key = serialization.load_pem_private_key(own.key, None)
    if case == "only_cert":
        del env["C2PA_KEY"]
    elif case == "missing":
        env["C2PA_CERT"] = "/nonexistent/chain.pem"
    elif case == "not_pem":
        Path(env["C2PA_CERT"]).write_text("hello")
    elif case == "bad_key":
        Path(env["C2PA_KEY"]).write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    elif case == "encrypted":
        Path(env["C2PA_KEY"]).write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"secret"),
            )
        )
    elif case == "other_key":
        Path(env["C2PA_KEY"]).write_bytes(provenance.make().key)
    elif case == "self_signed":
        env = self_signed(tmp_path)
    elif case == "no_eku":  # a CA-issued leaf without the key usage and EKU C2PA's certificate profile asks for
        env = no_eku(tmp_path)
    with pytest.raises(SettingsError) as refused:
        load_settings({**BASE, **env})
    message = str(refused.value)
    assert expected in message and "\n" not in message and "PRIVATE KEY" not in message


def no_eku(folder: Path) -> dict[str, str]:
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "ca")])

    def certificate(subject: x509.Name, public, ca: bool) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )

    leaf = certificate(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "leaf")]), key.public_key(), False)
    ca = certificate(ca_name, ca_key.public_key(), True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    return write_pems(folder, provenance.Credentials(chain, pem))


async def test_the_bot_refuses_to_start_with_a_bad_c2pa_key_in_one_line(tmp_path):
    env = {**start_env(tmp_path, "http://127.0.0.1:9/api/v10"), **write_pems(tmp_path, provenance.make())}
    Path(env["C2PA_KEY"]).write_bytes(provenance.make().key)
    code, err = await start_bot(env, tmp_path)
    line = one_line_error(code, err, 2, "C2PA_KEY")
    assert "is not the key of the first certificate in C2PA_CERT" in line and "PRIVATE KEY" not in err
