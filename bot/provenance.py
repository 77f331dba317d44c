"""Content credentials (C2PA) on every video the bot attaches.

Each attached video carries a C2PA manifest, made with c2pa-python (the Content Authenticity Initiative's
library): a `c2pa.actions.v2` assertion whose `c2pa.created` action declares the video AI-generated (IPTC digital
source type trainedAlgorithmicMedia) and names the model that made it (its name and fal endpoint id, in
softwareAgent). It is signed with the certificate chain and key of the settings C2PA_CERT and C2PA_KEY, checked
at start (`load_files`). Without them the bot signs with credentials of its own: a small CA and a leaf made on the
first start (`make`) and kept in the job store's `credentials` table, the first writer winning, so every later
start and every process of a cluster signs as the same signer. Verifiers show such a signer as unknown.

Signing is blocking (c2pa-rs does the work) and the bot does it in a process of its own (`Signer`): c2pa reads
and writes the file through Python callbacks, hundreds per video, which in a thread of the bot's process take the
GIL from the event loop hundreds of times per delivery. The private key never appears in a log line, an error or
a repr. Nothing here imports discord.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import c2pa
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bot import signing
from bot.fal import catalog
from bot.fal.catalog import Kind, Model
from bot.jobs.model import Job
from bot.jobs.spec import Command

if TYPE_CHECKING:
    from bot.store.base import JobStore

log = logging.getLogger(__name__)

AI_GENERATED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GENERATOR = "lipsync-bot"
STORED_NAME = "c2pa"  # the bot's own credentials, in the store's credentials table
VALID_YEARS = 10
_CURVES = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}


class CredentialsError(ValueError):
    """Credentials that cannot sign, for people: one line, never the key."""


@dataclass(frozen=True)
class Credentials:
    """A signer: its certificate chain (PEM, the signing certificate first) and private key (PEM, never shown)."""

    chain: bytes
    key: bytes = field(repr=False)
    alg: str = "es256"
    made: bool = False  # made by the bot itself: verifiers show this signer as unknown
    subject: str = ""  # the signing certificate's subject, for the start-up log line

    def __repr__(self) -> str:
        return f"Credentials(subject={self.subject!r}, alg={self.alg!r}, made={self.made})"


def make() -> Credentials:
    """New credentials of the bot's own: an ES256 CA and a leaf it issues (c2pa refuses a self-signed signing
    certificate), the leaf with digitalSignature key usage and the emailProtection EKU that C2PA's profile asks for."""
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=365 * VALID_YEARS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{GENERATOR} local CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(GENERATOR))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return Credentials(chain, pem, "es256", made=True, subject=leaf.subject.rfc4514_string())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, common_name), x509.NameAttribute(NameOID.ORGANIZATION_NAME, GENERATOR)]
    )


def _usage(*, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def from_pem(
    chain: bytes, key: bytes, *, made: bool = False, cert_name: str = "C2PA_CERT", key_name: str = "C2PA_KEY"
) -> Credentials:
    """Credentials checked to sign: the chain and key parse, belong together, and c2pa signs with them."""
    try:
        certificates = x509.load_pem_x509_certificates(chain)
    except ValueError:
        raise CredentialsError(f"{cert_name} holds no PEM certificate (-----BEGIN CERTIFICATE-----)") from None
    try:
        private = serialization.load_pem_private_key(key, password=None)
    except TypeError:
        raise CredentialsError(f"{key_name} is encrypted with a password; c2pa needs the key unencrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise CredentialsError(f"{key_name} holds no unencrypted PEM private key (PKCS#8, SEC1 or PKCS#1)") from None
    leaf = certificates[0]
    if leaf.public_key() != private.public_key():
        raise CredentialsError(f"{key_name} is not the key of the first certificate in {cert_name}")
    if leaf.issuer == leaf.subject:
        raise CredentialsError(
            f"{cert_name}'s first certificate is self-signed, which C2PA refuses; sign it with a CA and put the CA's "
            "certificate after it"
        )
    alg = _algorithm(private)
    if alg is None:
        raise CredentialsError(
            f"{key_name} is a kind of key C2PA cannot sign with (use EC P-256/384/521, Ed25519 or RSA)"
        )
    credentials = Credentials(chain, key, alg, made=made, subject=leaf.subject.rfc4514_string())
    try:
        with signing.c2pa_signer(credentials.chain, credentials.key, credentials.alg) as signer:
            signing.try_signing(signer, _TINY_PNG, _manifest("check", None, None))
    except c2pa.C2paError as exc:
        raise CredentialsError(f"c2pa refuses to sign with {cert_name} and {key_name}: {reason(exc)}") from None
    return credentials


def _algorithm(private: object) -> str | None:
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return _CURVES.get(private.curve.name)
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(private, rsa.RSAPrivateKey):
        return "ps256"
    return None


def reason(exc: Exception) -> str:
    return signing.reason(exc)


def load_files(cert_path: Path, key_path: Path) -> Credentials:
    """C2PA_CERT and C2PA_KEY, read and checked (CredentialsError naming the setting otherwise)."""
    try:
        chain = cert_path.read_bytes()
    except OSError as exc:
        raise CredentialsError(f"C2PA_CERT '{cert_path}' cannot be read ({exc.strerror or exc})") from None
    try:
        key = key_path.read_bytes()
    except OSError as exc:
        raise CredentialsError(f"C2PA_KEY '{key_path}' cannot be read ({exc.strerror or exc})") from None
    return from_pem(chain, key)


async def stored(store: JobStore) -> Credentials:
    """The bot's own credentials: those in the store, else new ones, kept there. When processes start at once the
    first writer wins and every one signs with what the store holds."""
    found = await store.get_credentials(STORED_NAME)
    if found is None:
        fresh = make()
        found = await store.keep_credentials(STORED_NAME, fresh.chain.decode(), fresh.key.decode())
    chain, key = found
    credentials = from_pem(chain.encode(), key.encode(), made=True, cert_name="the stored certificate", key_name="key")
    log.info(
        "content credentials: signing as the bot's own signer %s, kept in the job store (C2PA_CERT/C2PA_KEY not set; "
        "verifiers show this signer as unknown)",
        credentials.subject,
    )
    return credentials


# ---- signing


def models_of(job: Job) -> tuple[Model, Model | None]:
    """The model that made the job's video, and the one that spoke its text (None when the member gave audio)."""
    spec = job.spec
    spoken = bool(spec.text) and spec.command is not Command.ANIMATE and "audio" not in job.sources
    return spec.main_model, catalog.get_model(spec.tts_model, Kind.TTS) if spoken else None


def models_named(model: Model, speech: Model | None = None) -> str:
    """'VEED Fabric 1.0 (fal.ai endpoint veed/fabric-1.0)', and the speech model when text was spoken."""
    named = f"{model.name} (fal.ai endpoint {model.endpoint_id})"
    return named + (f"; speech by {speech.name} (fal.ai endpoint {speech.endpoint_id})" if speech else "")


def _manifest(title: str, model: Model | None, speech: Model | None) -> dict[str, object]:
    action: dict[str, object] = {"action": "c2pa.created", "digitalSourceType": AI_GENERATED}
    if model is not None:
        action["softwareAgent"] = {"name": f"{model.name} ({model.endpoint_id}) on fal.ai"}
        action["description"] = f"Generated with AI by {models_named(model, speech)}"
    return {
        "claim_generator_info": [{"name": GENERATOR, "version": _version()}],
        "title": title,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [action]}}],
    }


@functools.cache
def _version() -> str:  # read once: each lookup parses the package's metadata file
    from importlib import metadata

    try:
        return metadata.version("lipsync-bot")
    except metadata.PackageNotFoundError:
        return "0"


def sign_file(credentials: Credentials, path: Path, model: Model, speech: Model | None = None) -> None:
    """Sign the MP4 at `path` in place (blocking), in this process: a signed copy beside it replaces it, so a failure
    (c2pa.C2paError, OSError) leaves the file as it was. The bot signs in its signing process instead (`Signer`)."""
    with signing.c2pa_signer(credentials.chain, credentials.key, credentials.alg) as signer:
        signing.sign_file(signer, path, _manifest(path.name, model, speech))


class Signer:
    """Signs videos with `credentials` in a process of its own (`python -m bot.signing`, which imports nothing but c2pa), spoken to through pipes
    the event loop reads itself (no thread in the bot's process: a thread's wake-ups would take the interpreter lock
    from the loop). It starts when the first job is shown (`warm`: ready long before that job's video) or at the
    first video, and again if it dies; a video whose signing it died under is reported as not signed (the caller
    attaches it unsigned). The credentials reach it on its standard input, never in its arguments or environment."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self._process: asyncio.subprocess.Process | None = None
        self._started: asyncio.Task[asyncio.subprocess.Process] | None = None
        self._waiting: dict[int, asyncio.Future[str | None]] = {}
        self._next = 0
        self._reader: asyncio.Task[None] | None = None

    def warm(self) -> None:
        """Start the signing process now, in the background, unless it runs."""
        if self._started is None or (self._started.done() and not self._alive()):
            self._started = asyncio.ensure_future(self._start())
            self._started.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def sign(self, path: Path, model: Model, speech: Model | None = None) -> None:
        """Sign the MP4 at `path` in place, as sign_file does; raises SigningFailed saying why."""
        self.warm()
        assert self._started is not None
        process = await self._started
        assert process.stdin is not None
        self._next += 1
        ask = self._next
        answer: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._waiting[ask] = answer
        request = {"id": ask, "path": str(path), "manifest": _manifest(path.name, model, speech)}
        try:
            process.stdin.write(json.dumps(request).encode() + b"\n")
            await process.stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            self._waiting.pop(ask, None)
            raise SigningFailed(f"the signing process is gone ({exc!r})") from None
        problem = await answer
        if problem is not None:
            raise SigningFailed(problem)

    def _alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def _start(self) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.signing",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdin is not None
        secret = {"chain": self.credentials.chain.decode(), "key": self.credentials.key.decode()}
        process.stdin.write(json.dumps(secret | {"alg": self.credentials.alg}).encode() + b"\n")
        self._process, self._waiting = process, {}
        self._reader = asyncio.ensure_future(self._read(process, self._waiting))
        return process

    async def _read(self, process: asyncio.subprocess.Process, asked: dict[int, asyncio.Future[str | None]]) -> None:
        """The answers of one signing process to what was asked of it (`asked`: its own, not a successor's)."""
        assert process.stdout is not None
        while line := await process.stdout.readline():
            try:
                answer = json.loads(line)
                waiting = asked.pop(int(answer["id"]), None)
            except (ValueError, KeyError, TypeError):  # not an answer (a library writing to stdout): not ours
                log.warning("the signing process wrote something that is not an answer; ignored")
                continue
            if waiting is not None and not waiting.done():
                waiting.set_result(answer.get("error"))
        await process.wait()
        log.warning("the signing process ended (exit status %s); the next video starts another", process.returncode)
        for waiting in asked.values():  # answers that will never come
            if not waiting.done():
                waiting.set_result("the signing process ended before it answered")
        asked.clear()

    async def close(self) -> None:
        if self._started is not None and not self._started.done():
            self._started.cancel()
        if self._alive():
            assert self._process is not None
            self._process.kill()
            await self._process.wait()
        if self._reader is not None:
            self._reader.cancel()


class SigningFailed(Exception):
    """Why a video could not be signed (for the log: never the key)."""


# A 1×1 PNG: what the credentials are tried on at start (c2pa checks the certificate when it signs).
_TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c49444154789c63606060000000040001f61738550000000049454e44ae426082"
)
