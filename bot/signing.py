"""Signing a file with c2pa, and the signing process (`python -m bot.signing`) that does it for the bot.

Kept apart from bot.provenance, which makes and keeps the credentials and writes the manifests, so that the
signing process imports nothing but c2pa: it starts in a tenth of the time the bot's modules take. It reads the
signer's PEM chain and key on the first line of its standard input (never its arguments or environment), then one
request per line, `{"id", "path", "manifest"}`, and answers each with `{"id"}` or `{"id", "error"}`.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import c2pa


def c2pa_signer(chain: bytes, key: bytes, alg: str) -> c2pa.Signer:
    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg=alg.encode(), sign_cert=chain, private_key=key, ta_url=None))


def sign_stream(signer: c2pa.Signer, mime: str, source: Any, dest: Any, manifest: dict[str, object]) -> None:
    with c2pa.Builder(json.dumps(manifest)) as builder:
        builder.sign(signer, mime, source, dest)


def sign_file(signer: c2pa.Signer, path: Path, manifest: dict[str, object]) -> None:
    """Sign the MP4 at `path` in place: a signed copy beside it replaces it, so a failure (c2pa.C2paError, OSError)
    leaves the file as it was."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".signing-", suffix=path.suffix)
    try:
        with path.open("rb") as source, os.fdopen(handle, "w+b") as dest:
            sign_stream(signer, "video/mp4", source, dest, manifest)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def try_signing(signer: c2pa.Signer, png: bytes, manifest: dict[str, object]) -> None:
    """Sign a small image in memory: c2pa checks the certificate chain and the key when it signs."""
    sign_stream(signer, "image/png", io.BytesIO(png), io.BytesIO(), manifest)


def reason(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def serve() -> None:
    first = json.loads(sys.stdin.readline())
    try:
        signer: c2pa.Signer | None = c2pa_signer(first["chain"].encode(), first["key"].encode(), first["alg"])
        refused = ""
    except Exception as exc:  # credentials c2pa refuses: each request is answered with why
        signer, refused = None, reason(exc)
    for line in sys.stdin:
        ask = json.loads(line)
        answer: dict[str, object] = {"id": ask["id"]}
        try:
            if signer is None:
                raise ValueError(refused)
            sign_file(signer, Path(ask["path"]), ask["manifest"])
        except Exception as exc:
            answer["error"] = reason(exc)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
