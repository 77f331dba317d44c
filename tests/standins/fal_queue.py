"""A local stand-in for fal.ai's queue API and its storage upload endpoints.

It mimics, over TLS on 127.0.0.1, what the real ``fal_client`` and our own status-stream code talk to:

* ``queue.fal.run``: submit ``POST /{endpoint_id}``, then ``status``, ``status/stream`` (SSE), result and
  ``cancel`` under ``/{owner}/{alias}/requests/{id}`` (fal drops an endpoint's subpath there);
* ``rest.fal.ai``: ``POST /storage/auth/token`` and the fallback ``POST /storage/upload/initiate``;
* ``v3.fal.media``: ``POST /files/upload``, the signed ``PUT /upload/<id>`` and ``GET /files/...``, and the
  multipart upload fal_client uses over 100 MB (``POST /files/upload/multipart``, ``PUT …/multipart/<id>/<n>``,
  ``POST …/multipart/<id>/complete``), whose parts go to disk and whose file is kept in one file there.

Known endpoints and their input/output schemas come from the per-endpoint queue OpenAPI documents in
``tests/contracts/fal``. A job's life (queue positions, logs, result, failure) follows a ``JobScript`` and is
derived from the time since submission, so no task runs per job. Everything a client does wrong is recorded in
``FalStandIn.violations``; tests assert that list is empty. Faults a test injects (``fail_next``, ``flaky``,
``outage``, ...) are not violations.

The server counts its TLS connections (``open_connections``, ``peak_connections``, ``connections``) and keeps
per-route and per-request-id counters, so a test can follow thousands of jobs without scanning ``requests``.
``tests/standins/fal_scale.py`` measures it under 1,000 jobs followed over 1,000 concurrent status streams.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import dataclasses
import functools
import hashlib
import json
import mimetypes
import os
import random
import re
import shutil
import socket
import ssl
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

import trustme
from aiohttp import web
from jsonschema import Draft202012Validator

CONTRACTS_DIR = Path(__file__).resolve().parents[1] / "contracts" / "fal"
FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures"

IN_QUEUE, IN_PROGRESS, COMPLETED = "IN_QUEUE", "IN_PROGRESS", "COMPLETED"

# Routes a request can be classified as. Faults can be injected on all but "unknown".
ROUTES = (
    "submit",
    "status",
    "stream",
    "result",
    "cancel",
    "token",
    "upload",
    "upload_initiate",
    "upload_put",
    "upload_multipart",
    "upload_part",
    "upload_complete",  # fal_client's multipart upload (over 100 MB)
    "file",
    "unknown",
)
QUEUE_ROUTES = ("submit", "status", "stream", "result", "cancel")
_KEY_ROUTES = {"submit", "status", "stream", "result", "cancel", "token", "upload_initiate"}
_METHODS = {
    "status": {"GET"},
    "stream": {"GET"},
    "result": {"GET"},
    "cancel": {"PUT"},
    "token": {"POST"},
    "upload": {"POST"},
    "upload_initiate": {"POST"},
    "upload_put": {"PUT"},
    "upload_multipart": {"POST"},
    "upload_part": {"PUT"},
    "upload_complete": {"POST"},
    "file": {"GET", "HEAD"},
    "submit": {"POST"},
}
_CDN_ROUTES = {"upload", "upload_multipart", "upload_part", "upload_complete"}  # Bearer <CDN token>
_MULTIPART_PATH = re.compile(r"(/files/.+)/multipart/([^/]+)/(\d+|complete)")
_NO_USER = {"detail": "No user found for Key ID and Secret"}
_CANCELLED = {"detail": "Request was cancelled", "error_type": "client_cancelled"}

# Default bodies for injected or scripted HTTP failures: status -> (detail, error_type).
_FAILURES: dict[int, tuple[str, str | None]] = {
    400: ("Bad Request", "bad_request"),
    401: (_NO_USER["detail"], None),
    429: ("Too Many Requests", None),
    499: ("Client disconnected", "client_disconnected"),
    500: ("Internal Server Error", "internal_error"),
    502: ("Bad Gateway", "runner_incomplete_response"),
    503: ("Service Unavailable", "runner_scheduling_failure"),
    504: ("Request timed out", "request_timeout"),
}

# Failure specs, accepted by fail_next, flaky, outage and JobScript.result_failures:
#   503 or "503"   fal's JSON body {detail, error_type} (+ X-Fal-Error-Type and x-fal-request-id, except from
#                  fail_next with an int status, which sends only the headers it is given, as before);
#   "504:text"     a text/plain body without "nginx" and with x-fal-request-id, as fal's own gateway answers
#                  a timeout: fal_client does NOT retry it (_is_ingress_error is false);
#   "502:nginx"    (or 503, 504) an nginx HTML page with no x-fal-request-id, as the ingress answers:
#                  fal_client retries it (_is_ingress_error is true);
#   "drop"         (not for result_failures) the connection is closed without an answer.
_SPEC = re.compile(r"(\d{3})(?::(json|text|nginx))?")
_INGRESS_CODES = (502, 503, 504)  # fal_client.client.INGRESS_ERROR_CODES
_GATEWAY_TEXT = {
    502: "upstream connect error or disconnect/reset before headers",
    503: "no healthy upstream",
    504: "upstream request timeout",
}


def parse_failure(spec: int | str) -> tuple[int, str]:
    """(status, "json" | "text" | "nginx") for a failure spec; ValueError when it is not one."""
    if isinstance(spec, int) and not isinstance(spec, bool):
        status, style = spec, "json"
    else:
        match = _SPEC.fullmatch(str(spec))
        if match is None:
            raise ValueError(f"not a failure spec: {spec!r} (e.g. 503, '504:text', '502:nginx')")
        status, style = int(match.group(1)), match.group(2) or "json"
    if not 400 <= status <= 599:
        raise ValueError(f"failure status must be 4xx or 5xx, got {status}")
    if style == "nginx" and status not in _INGRESS_CODES:
        raise ValueError(f"fal_client treats only {_INGRESS_CODES} as ingress errors, got {status}")
    return status, style


def _check_fault_kind(kind: str) -> None:
    if kind != "drop":
        parse_failure(kind)


# Synthesised output files are real media: ext -> (fixture, content type).
_MEDIA = {"mp4": ("clip.mp4", "video/mp4"), "mp3": ("speech.mp3", "audio/mpeg")}
_SYNTH_FILE = re.compile(r"^/files/out-([^/]+)\.(mp4|mp3)$")
_ZEROS = memoryview(bytes(1 << 20))
_HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>fal.media</title></head>\n"
    "<body><h1>Something went wrong</h1><p>Please try again later.</p></body></html>\n"
)


# --------------------------------------------------------------------------- scripts and records


@dataclass
class JobScript:
    """How a submitted job behaves. Times are seconds."""

    queue_positions: list[int] = field(default_factory=lambda: [2, 1, 0])
    queue_step: float = 0.2
    run_time: float = 0.5
    logs: list[str] = field(default_factory=lambda: ["Loading model", "Generating"])
    output: dict | None = None  # None: synthesised from the endpoint's Output schema
    error: dict | None = None  # {"status": 422, "detail": ..., "error_type"?: ..., "error"?: "<status message>"}
    result_failures: list[int | str] = field(default_factory=list)  # failure specs the result answers first
    ignores_cancel: bool = False  # a cancel while IN_PROGRESS is acknowledged, but the job runs on and completes
    # The synthesised output file (/files/out-<id>.mp4 or .mp3), served from tests/fixtures' clip.mp4/speech.mp3:
    output_size: int | None = None  # pad it to this many bytes (an mp4 with a trailing `free` box)
    output_status: int | None = None  # the CDN answers this status instead (e.g. 404)
    output_html: bool = False  # the CDN answers 200 with an HTML page (text/html)
    output_truncated: bool = False  # Content-Length is the full size, but the connection closes halfway
    output_without_video: bool = False  # the result lacks its file (video, or audio): breaks the Output schema

    def __post_init__(self) -> None:
        for spec in self.result_failures:
            parse_failure(spec)
        if self.output_size is not None:
            media_parts("mp4", self.output_size)  # raises if no valid mp4 has that size
        if self.output_status is not None and not 300 <= self.output_status <= 599:
            raise ValueError(f"output_status must be 3xx-5xx, got {self.output_status}")


@dataclass
class Recorded:
    """One request the stand-in received."""

    route: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # keys lower-cased; lookups ignore case
    json: Any
    request_id: str | None
    time: float  # time.monotonic()
    raw: bytes = field(default=b"", repr=False)  # the body as received
    connection: int | None = None  # Connection.id of the TLS connection it came on
    fault: str | None = None  # the injected fault it was answered with, if any ("drop", "503", ...)


@dataclass
class Connection:
    """One TLS connection the server accepted (counted once its handshake is done)."""

    id: int
    opened: float  # time.monotonic()
    closed: float | None = None
    routes: collections.Counter = field(default_factory=collections.Counter)  # route -> requests served
    lost: asyncio.Event = field(default_factory=asyncio.Event, repr=False)  # set when it closes


class _Headers(dict):
    """A plain dict of headers whose keys are lower-cased and whose lookups ignore case."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(str(key).lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass(frozen=True)
class Phase:
    """Where a job stands at one instant."""

    status: str
    position: int | None = None
    n_logs: int = 0
    next_change: float | None = None  # monotonic time of the next visible change, None when final


@dataclass
class Job:
    request_id: str
    endpoint_id: str
    payload: Any
    script: JobScript
    output: dict
    base_url: str
    submitted_at: float = field(default_factory=time.monotonic)
    submitted_wall: datetime = field(default_factory=lambda: datetime.now(UTC))
    cancelled_at: float | None = None  # when it stopped because of a cancel
    cancel_asked: list[str] = field(default_factory=list)  # its status at each cancel request, in order
    pending_failures: list[int | str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def app_path(self) -> str:
        return "/".join(self.endpoint_id.split("/")[:2])

    @property
    def response_url(self) -> str:
        return f"{self.base_url}/{self.app_path}/requests/{self.request_id}"

    @property
    def cancelled(self) -> bool:
        """It stopped because of a cancel (a job that ignores the signal is not cancelled)."""
        return self.cancelled_at is not None

    @property
    def cancel_phase(self) -> str | None:
        """Its status when a cancel was first asked (IN_QUEUE, IN_PROGRESS or COMPLETED); None if never."""
        return self.cancel_asked[0] if self.cancel_asked else None

    def notify(self) -> None:
        """Wake every status stream following this job (a fresh event, so none of them spins on a set one)."""
        event, self.changed = self.changed, asyncio.Event()
        event.set()

    @property
    def failed(self) -> bool:
        return self.script.error is not None and not self.cancelled

    @property
    def state(self) -> str:
        return self.phase().status

    @property
    def run_start(self) -> float:
        return self.submitted_at + len(self.script.queue_positions) * self.script.queue_step

    @property
    def run_end(self) -> float:
        return self.run_start + self.script.run_time

    def log_time(self, i: int) -> float:
        return self.run_start + i * self.script.run_time / len(self.script.logs)

    def logs_due(self, t: float) -> int:
        return sum(1 for i in range(len(self.script.logs)) if self.log_time(i) <= t)

    def phase(self, now: float | None = None) -> Phase:
        now = time.monotonic() if now is None else now
        if self.cancelled_at is not None and self.cancelled_at <= now:
            return Phase(COMPLETED, n_logs=self.logs_due(self.cancelled_at))
        if now < self.run_start:
            step = self.script.queue_step
            idx = min(int((now - self.submitted_at) // step), len(self.script.queue_positions) - 1)
            nxt = self.submitted_at + (idx + 1) * step
            return Phase(IN_QUEUE, position=self.script.queue_positions[idx], next_change=nxt)
        if now < self.run_end:
            n = self.logs_due(now)
            nxt = self.log_time(n) if n < len(self.script.logs) else self.run_end
            return Phase(IN_PROGRESS, n_logs=n, next_change=min(nxt, self.run_end))
        return Phase(COMPLETED, n_logs=len(self.script.logs))

    def log_entries(self, n: int) -> list[dict]:
        return [
            {
                "message": message,
                "level": "INFO",
                "source": "USER",
                "timestamp": self._wall(self.log_time(i)).isoformat(),
            }
            for i, message in enumerate(self.script.logs[:n])
        ]

    def metrics(self) -> dict:
        end = self.cancelled_at if self.cancelled else self.run_end
        if end <= self.run_start:
            return {}
        return {"inference_time": round(end - self.run_start, 3)}

    def _wall(self, t: float) -> datetime:
        return self.submitted_wall + timedelta(seconds=t - self.submitted_at)


@dataclass
class _Fault:
    kind: str  # "fail" or "drop"
    status: int | str = 503  # a failure spec
    body: dict | str | None = None
    headers: dict | None = None


@dataclass
class _Flaky:
    routes: frozenset[str]
    rate: float
    kinds: tuple[str, ...]
    rng: random.Random


@dataclass
class _Outage:
    routes: frozenset[str]
    until: float  # time.monotonic()
    kind: str


@dataclass
class _Multipart:
    """A multipart upload in progress; its parts are on disk, one file each, never in memory."""

    url: str  # the access_url
    content_type: str
    dir: Path
    parts: dict[int, tuple[str, int]] = field(default_factory=dict)  # part number -> (etag, size)


class _Uploads(dict):
    """url -> bytes of every stored upload. Multipart uploads stay in one file on disk, read on access."""

    def __getitem__(self, url: str) -> bytes:
        value = super().__getitem__(url)
        return value.read_bytes() if isinstance(value, Path) else value

    def get(self, url: str, default: Any = None) -> Any:
        return self[url] if url in self else default

    def values(self) -> list[bytes]:  # type: ignore[override]
        return [self[url] for url in self]

    def items(self) -> list[tuple[str, bytes]]:  # type: ignore[override]
        return [(url, self[url]) for url in self]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, dict) and self.keys() == other.keys() and all(self[k] == other[k] for k in self)

    __hash__ = None  # type: ignore[assignment]

    def path(self, url: str) -> Path | None:
        """The file on disk that holds a multipart upload (None for one kept in memory)."""
        value = super().__getitem__(url)
        return value if isinstance(value, Path) else None

    def size(self, url: str) -> int:
        value = super().__getitem__(url)
        return value.stat().st_size if isinstance(value, Path) else len(value)


@dataclass
class _Contract:
    endpoint_id: str
    input_name: str
    output_name: str
    input_validator: Draft202012Validator
    output_validator: Draft202012Validator
    output_schema: dict
    schemas: dict


# --------------------------------------------------------------------------- contracts and outputs


def _schema_ref(operation: dict) -> str:
    return operation["content"]["application/json"]["schema"]["$ref"]


def _validator(ref: str, components: dict) -> Draft202012Validator:
    # The OpenAPI document's components become the schema root, so "#/components/schemas/..." resolves.
    # No format checker: "format: uri" is treated loosely, as asked.
    return Draft202012Validator({"$ref": ref, "components": components})


def load_contracts(contracts_dir: Path) -> dict[str, _Contract]:
    """endpoint_id -> contract, from every ``owner__alias[__path].json`` in ``contracts_dir``."""
    contracts = {}
    for path in sorted(Path(contracts_dir).glob("*.json")):
        if path.name.startswith("_"):
            continue
        endpoint_id = path.stem.replace("__", "/")
        doc = json.loads(path.read_text())
        paths, components = doc["paths"], doc["components"]
        input_ref = _schema_ref(paths[f"/{endpoint_id}"]["post"]["requestBody"])
        output_ref = _schema_ref(paths[f"/{endpoint_id}/requests/{{request_id}}"]["get"]["responses"]["200"])
        schemas = components["schemas"]
        contracts[endpoint_id] = _Contract(
            endpoint_id=endpoint_id,
            input_name=input_ref.rsplit("/", 1)[-1],
            output_name=output_ref.rsplit("/", 1)[-1],
            input_validator=_validator(input_ref, components),
            output_validator=_validator(output_ref, components),
            output_schema=schemas[output_ref.rsplit("/", 1)[-1]],
            schemas=schemas,
        )
    return contracts


@functools.cache
def _fixture(name: str) -> bytes:
    return (FIXTURES_DIR / name).read_bytes()


@functools.lru_cache(maxsize=64)
def media_parts(ext: str, size: int | None = None) -> tuple[bytes, int]:
    """(head, zeros): an output file of ``size`` bytes is ``head`` followed by ``zeros`` zero bytes.

    The head is the real fixture (clip.mp4 or speech.mp3); an mp4 is padded with a trailing top-level `free`
    box so it stays a valid file, an mp3 with zero bytes. Big files are streamed, never built whole.
    """
    data = _fixture(_MEDIA[ext][0])
    if size is None or size == len(data):
        return data, 0
    pad = size - len(data)
    if pad < 0:
        raise ValueError(f"an output {ext} is at least {len(data)} bytes, got {size}")
    if ext != "mp4":
        return data, pad
    if pad < 8:
        raise ValueError(f"an mp4 pads with an 8-byte box at least: {size} is not {len(data)} or >= {len(data) + 8}")
    if pad < 1 << 32:
        box = pad.to_bytes(4, "big") + b"free"
    else:  # a 64-bit box size
        box = (1).to_bytes(4, "big") + b"free" + pad.to_bytes(8, "big")
    return data + box, pad - len(box)


def media_bytes(ext: str = "mp4", size: int | None = None) -> bytes:
    """The whole synthesised output file, as served (for tests that compare a download)."""
    head, zeros = media_parts(ext, size)
    return head + bytes(zeros)


def media_size(ext: str = "mp4", size: int | None = None) -> int:
    """The size of the synthesised output file (``size`` itself when given and valid)."""
    head, zeros = media_parts(ext, size)
    return len(head) + zeros


def _synth_file(base_url: str, request_id: str, kind: str, size: int | None = None) -> dict:
    ext = "mp3" if kind == "audio" else "mp4"
    return {
        "url": f"{base_url}/files/out-{request_id}.{ext}",
        "content_type": _MEDIA[ext][1],
        "file_name": f"output.{ext}",
        "file_size": media_size(ext, size),
    }


def _synth_value(name: str, prop: dict, base_url: str, request_id: str, size: int | None) -> Any:
    if name in ("video", "audio"):
        return _synth_file(base_url, request_id, name, size)
    if name == "duration_ms":
        return 5200
    if name == "duration":
        return 5.2
    if name == "custom_voice_id":
        return f"voice-{request_id[:8]}"
    if "$ref" in prop or "allOf" in prop:
        return _synth_file(base_url, request_id, "video", size)
    return {"integer": 0, "number": 0.0, "boolean": False, "array": [], "object": {}}.get(prop.get("type"), "")


def synthesise_output(contract: _Contract, base_url: str, request_id: str, file_size: int | None = None) -> dict:
    """A valid result for ``contract``'s Output schema: its required fields, plus any video/audio file
    (``file_size``: the padded size of that file, see ``media_parts``)."""
    schema = contract.output_schema
    wanted = [n for n in schema.get("properties", {}) if n in schema.get("required", []) or n in ("video", "audio")]
    output = {n: _synth_value(n, schema["properties"][n], base_url, request_id, file_size) for n in wanted}
    contract.output_validator.validate(output)
    return output


def expired_voice_error(voice_id: str) -> dict:
    """fal's answer for a TTS request whose voice MiniMax no longer has: a 422 naming the field, with MiniMax's own
    words ('voice id not exist', base_resp status 2054, as MiniMax's API answers it)."""
    return {
        "status": 422,
        "detail": [
            {
                "loc": ["body", "voice_setting", "voice_id"],
                "msg": f"voice id not exist: {voice_id} (MiniMax status 2054)",
                "type": "value_error",
            }
        ],
    }


# --------------------------------------------------------------------------- small response helpers


def _json(status: int, body: Any, headers: dict | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def _failure(status: int, body: dict | str | None = None, headers: dict | None = None) -> web.Response:
    """An error response; the default body follows fal's {detail, error_type} shape for the status."""
    headers = dict(headers or {})
    if isinstance(body, str):  # e.g. an nginx HTML page, which fal_client treats as an ingress error
        return web.Response(status=status, text=body, content_type="text/html", headers=headers)
    if body is None:
        detail, error_type = _FAILURES.get(status, (HTTPStatus(status).phrase, None))
        body = {"detail": detail} | ({"error_type": error_type} if error_type else {})
    if body.get("error_type"):
        headers.setdefault("X-Fal-Error-Type", body["error_type"])
    return _json(status, body, headers)


def _nginx_page(status: int) -> str:
    title = f"{status} {HTTPStatus(status).phrase}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


def _spec_failure(spec: int | str, request_id: str | None, headers: dict | None = None) -> web.Response:
    """The response for a failure spec (see parse_failure); fal's own answers carry x-fal-request-id."""
    status, style = parse_failure(spec)
    if style == "nginx":  # the ingress answers before fal has a request id
        return web.Response(status=status, text=_nginx_page(status), content_type="text/html", headers=headers)
    headers = {"x-fal-request-id": request_id or str(uuid.uuid4())} | dict(headers or {})
    if style == "text":
        text = _GATEWAY_TEXT.get(status, HTTPStatus(status).phrase)
        return web.Response(status=status, text=text, content_type="text/plain", headers=headers)
    return _failure(status, headers=headers)


def _classify(method: str, path: str) -> tuple[str, str | None, str | None]:
    """(route, request_id, app path before /requests/) for a request."""
    if path == "/storage/auth/token":
        return "token", None, None
    if path == "/storage/upload/initiate":
        return "upload_initiate", None, None
    if path == "/files/upload/multipart":
        return "upload_multipart", None, None
    if path == "/files/upload" or path.startswith("/files/upload/"):
        return "upload", None, None
    if path.startswith("/upload/"):
        return "upload_put", None, None
    match = _MULTIPART_PATH.fullmatch(path)
    if match:
        return ("upload_complete" if match.group(3) == "complete" else "upload_part"), None, None
    if path.startswith("/files/"):
        return "file", None, None
    match = re.fullmatch(r"/(.+?)/requests/([^/]+)(/status|/status/stream|/cancel)?/?", path)
    if match:
        prefix, request_id, tail = match.groups()
        route = {None: "result", "/status": "status", "/status/stream": "stream", "/cancel": "cancel"}[tail]
        return route, request_id, prefix
    if method == "POST" and path.strip("/"):
        return "submit", None, None
    return "unknown", None, None


def _wants_logs(request: web.Request) -> bool:
    return request.query.get("logs", "").lower() in ("1", "true")


# --------------------------------------------------------------------------- the stand-in


class FalStandIn:
    """fal's queue + storage API on 127.0.0.1 over TLS. See the module docstring."""

    def __init__(
        self, *, key: str = "test-fal-key", contracts_dir: Path = CONTRACTS_DIR, keepalive: float = 15.0
    ) -> None:
        self.key = key
        self.keepalive = keepalive
        self.contracts = load_contracts(contracts_dir)
        if not self.contracts:
            raise FileNotFoundError(f"no fal contracts in {contracts_dir}")
        self.requests: list[Recorded] = []
        self.jobs: dict[str, Job] = {}
        self.uploads: dict[str, bytes] = _Uploads()
        self.violations: list[str] = []
        self.host = ""
        self.base_url = ""
        self._scripts: dict[str, JobScript] = {}
        self._next_scripts: list[JobScript] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._holds: dict[str, asyncio.Event] = {}
        self.held: list[Recorded] = []
        self._tokens: set[str] = set()
        self._content_types: dict[str, str] = {}
        self._initiated: dict[str, tuple[str, str]] = {}  # upload id -> (file_url, content_type)
        self._multipart: dict[str, _Multipart] = {}  # uploadId -> upload in progress
        self._completed: dict[str, str] = {}  # uploadId -> access_url, so a repeated complete is answered
        self._streams: set[asyncio.Task] = set()
        self._stalls: list[int] = []  # after_events for each of the next status streams to stall
        self._drop_after_submit = 0
        self.expired_voices: set[str] = set()  # custom voice ids MiniMax has deleted (see expire_voice)
        self.connections: list[Connection] = []  # every connection since start, open or closed
        self.open_connections = 0
        self.peak_connections = 0
        self._by_handler: dict[Any, Connection] = {}
        self._route_counts: collections.Counter = collections.Counter()
        self._request_counts: dict[str, collections.Counter] = {}
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._flaky: _Flaky | None = None
        self._outages: list[_Outage] = []
        self._refused_until = 0.0
        self._reopening: asyncio.Task | None = None
        self._ssl: ssl.SSLContext | None = None
        self._port = 0
        self._tmp = tempfile.mkdtemp(prefix="fal-standin-")
        self._ca = trustme.CA()
        self.ca_path = str(Path(self._tmp) / "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_path)

    # ---- lifecycle

    async def start(self, sock: socket.socket | None = None) -> None:
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            # Accepted sockets inherit SO_REUSEADDR; without it an outage could not listen on the port again.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        self.host = f"127.0.0.1:{self._port}"
        self.base_url = f"https://{self.host}"
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        server = self._runner.server
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: Any, transport: Any) -> None:
            made(handler, transport)
            self._connection_opened(handler)

        def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
            lost(handler, exc)
            self._connection_closed(handler)

        server.connection_made, server.connection_lost = connection_made, connection_lost
        self._ssl = self._server_ssl()
        await self._listen(sock)

    async def _listen(self, sock: socket.socket) -> None:
        # Our own listener (not web.SockSite) so an outage can close it and open it again on the same port.
        # A deep backlog: a thousand clients connecting at once must not wait for SYN retries.
        self._listener = await asyncio.get_running_loop().create_server(
            self._runner.server, sock=sock, ssl=self._ssl, backlog=4096
        )

    def _connection_opened(self, handler: Any) -> None:
        conn = Connection(len(self.connections) + 1, time.monotonic())
        self.connections.append(conn)
        self._by_handler[handler] = conn
        self.open_connections += 1
        self.peak_connections = max(self.peak_connections, self.open_connections)

    def _connection_closed(self, handler: Any) -> None:
        conn = self._by_handler.pop(handler, None)
        if conn is not None:
            conn.closed = time.monotonic()
            conn.lost.set()
            self.open_connections -= 1

    async def close(self) -> None:
        if self._reopening is not None:
            self._reopening.cancel()
            self._reopening = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for task in list(self._streams):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    async def __aenter__(self) -> FalStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def ca(self) -> trustme.CA:
        """The CA the bot process trusts (SSL_CERT_FILE): other stand-ins on 127.0.0.1 take their certificates from it."""
        return self._ca

    def _server_ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        return ctx

    # ---- test controls

    def expire_voice(self, voice_id: str) -> None:
        """MiniMax has deleted this cloned voice (unused for 7 days): a TTS request speaking with it is accepted,
        then fails with MiniMax's 'voice id not exist' (its status 2054) as fal reports a model's refusal."""
        self.expired_voices.add(voice_id)

    def script(self, endpoint_id: str, script: JobScript) -> None:
        """Default script for every later submission to ``endpoint_id``."""
        self._scripts[endpoint_id] = script

    def script_next(self, script: JobScript) -> None:
        """Script for the next accepted submission only (FIFO), whatever its endpoint."""
        self._next_scripts.append(script)

    def fail_next(
        self,
        route: str,
        status: int | str = 503,
        times: int = 1,
        body: dict | str | None = None,
        headers: dict | None = None,
    ) -> None:
        """Answer the next ``times`` requests on ``route`` with ``status`` (a str body is sent as text/html).

        ``status`` may also be a failure spec such as "504:text" or "502:nginx" (see ``parse_failure``).
        """
        parse_failure(status)
        if isinstance(status, str) and body is not None:
            raise ValueError("a failure spec brings its own body")
        self._add_faults(route, [_Fault("fail", status, body, headers) for _ in range(times)])

    def drop_next(self, route: str, times: int = 1) -> None:
        """Close the connection of the next ``times`` requests on ``route`` without answering."""
        self._add_faults(route, [_Fault("drop") for _ in range(times)])

    def flaky(
        self,
        routes: tuple[str, ...] = ("status", "result"),
        rate: float = 0.2,
        kinds: tuple[str, ...] = ("503", "drop"),
        seed: int | None = None,
    ) -> None:
        """From now on answer about ``rate`` of the requests on ``routes`` with one of ``kinds`` (a failure spec
        such as "503" or "502:nginx", or "drop"), chosen at random (``seed`` makes it repeatable), until
        ``steady``. Replaces an earlier ``flaky``."""
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be within [0, 1], got {rate}")
        if not kinds:
            raise ValueError("kinds must not be empty")
        for kind in kinds:
            _check_fault_kind(kind)
        self._flaky = _Flaky(self._check_routes(routes), rate, tuple(kinds), random.Random(seed))

    def outage(self, routes: tuple[str, ...] = QUEUE_ROUTES, seconds: float = 60.0, kind: str = "503") -> None:
        """Fail every request on ``routes`` for ``seconds`` from now: a failure spec ("503", "502:nginx", ...),
        "drop" (the connection is closed unanswered) or "refuse".

        "refuse" closes the listening socket, so every new connection fails at connect (ECONNREFUSED) whatever
        its route, since all routes share this one address; requests on ``routes`` that come over connections
        already open are dropped. The socket is opened again on the same port when the outage ends.
        """
        if kind != "refuse":
            _check_fault_kind(kind)
        until = time.monotonic() + seconds
        self._outages.append(_Outage(self._check_routes(routes), until, kind))
        if kind == "refuse":
            self._refuse_until(until)

    def steady(self) -> None:
        """End ``flaky`` and every ``outage`` now (one-shot faults from fail_next/drop_next stay queued)."""
        self._flaky = None
        self._outages.clear()
        self._refused_until = 0.0
        self._maybe_reopen()

    @property
    def refusing(self) -> bool:
        """True while a "refuse" outage keeps the listening socket closed."""
        return self._listener is None and self._runner is not None

    def stall_stream(self, times: int = 1, after_events: int = 1) -> None:
        """The next ``times`` status streams send ``after_events`` events, then go silent (no data, no keep-alive
        comment) without closing, until the client hangs up. The job itself goes on as scripted."""
        if times < 0 or after_events < 0:
            raise ValueError("times and after_events must not be negative")
        self._stalls.extend([after_events] * times)

    def drop_after_submit(self, times: int = 1) -> None:
        """The next ``times`` valid submissions are recorded (the job exists and runs) but their connection is
        aborted before the answer, as a crash of the network path would do."""
        self._drop_after_submit += times

    def hold(self, route: str) -> None:
        """Leave requests on ``route`` unanswered until ``release`` (to stop a client at a chosen point)."""
        self._holds[route] = asyncio.Event()

    def release(self, route: str, *, drop: bool = True) -> None:
        """Let held requests go on, or (drop) close their connections unanswered, as a crash would."""
        event = self._holds.pop(route, None)
        if event is not None:
            event.drop = drop  # type: ignore[attr-defined]
            event.set()

    def count(self, route: str, request_id: str | None = None) -> int:
        """Requests received on ``route`` (for one request id if given); O(1), from counters."""
        if request_id is None:
            return self._route_counts[route]
        counts = self._request_counts.get(request_id)
        return counts[route] if counts is not None else 0

    def counts_by_request(self) -> dict[str, collections.Counter]:
        """request_id -> Counter of route -> requests (a submit counts once fal has recorded its job)."""
        return {rid: collections.Counter(c) for rid, c in self._request_counts.items()}

    def reset_peak(self) -> None:
        """Start ``peak_connections`` again from the connections open now (to measure one phase of a test)."""
        self.peak_connections = self.open_connections

    def _count(self, route: str, request_id: str | None) -> None:
        if request_id is not None:
            counts = self._request_counts.get(request_id)
            if counts is None:
                counts = self._request_counts[request_id] = collections.Counter()
            counts[route] += 1

    async def wait_for_submissions(self, n: int, timeout: float = 10) -> None:
        try:
            async with asyncio.timeout(timeout):
                while len(self.jobs) < n:
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise TimeoutError(f"{len(self.jobs)} of {n} submissions after {timeout}s") from None

    def _add_faults(self, route: str, faults: list[_Fault]) -> None:
        self._check_routes((route,))
        self._faults.setdefault(route, []).extend(faults)

    @staticmethod
    def _check_routes(routes: tuple[str, ...] | list[str]) -> frozenset[str]:
        if isinstance(routes, str):
            raise TypeError("routes must be a tuple of route names, not a str")
        for route in routes:
            if route not in ROUTES or route == "unknown":
                raise ValueError(f"unknown route {route!r}")
        return frozenset(routes)

    def _injected(self, route: str) -> str | None:
        """The fault an outage or flaky() gives this request now, if any."""
        if self._outages:
            now = time.monotonic()
            if any(o.until <= now for o in self._outages):
                self._outages = [o for o in self._outages if o.until > now]
            for outage in self._outages:
                if route in outage.routes:
                    return "drop" if outage.kind == "refuse" else outage.kind
        flaky = self._flaky
        if flaky is not None and route in flaky.routes and flaky.rng.random() < flaky.rate:
            return flaky.rng.choice(flaky.kinds)
        return None

    def _refuse_until(self, until: float) -> None:
        self._refused_until = max(self._refused_until, until)
        if self._listener is not None:
            self._listener.close()  # connections already open stay open
            self._listener = None
        delay = max(0.0, self._refused_until - time.monotonic())
        asyncio.get_running_loop().call_later(delay, self._maybe_reopen)

    def _maybe_reopen(self) -> None:
        if (
            self._listener is not None
            or self._runner is None
            or self._reopening is not None
            or time.monotonic() < self._refused_until
        ):
            return
        self._reopening = asyncio.get_running_loop().create_task(self._reopen())

    async def _reopen(self) -> None:
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self._port))
            await self._listen(sock)
        finally:
            self._reopening = None

    # ---- dispatch

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        route, request_id, prefix = _classify(request.method, request.path)
        record = await self._record(request, route, request_id)
        auth_problem = self._auth_problem(route, request)
        if auth_problem:
            self.violations.append(f"{request.method} {request.path}: {auth_problem}")
        hold = self._holds.get(route)
        if hold is not None:
            self.held.append(record)
            await hold.wait()
            if getattr(hold, "drop", False):
                return self._abort(request)
        faults = self._faults.get(route)
        if faults:
            fault = faults.pop(0)
            record.fault = "drop" if fault.kind == "drop" else str(fault.status)
            return self._apply_fault(request, fault, request_id)
        injected = self._injected(route)
        if injected is not None:
            record.fault = injected
            if injected == "drop":
                return self._abort(request)
            return _spec_failure(injected, request_id)
        if auth_problem:
            body = {"detail": "Invalid token"} if route in _CDN_ROUTES else _NO_USER
            return _json(401, body)
        if request.method not in _METHODS.get(route, set()):
            self.violations.append(f"{request.method} {request.path}: no such fal route")
            return _json(404 if route == "unknown" else 405, {"detail": "Not Found"})
        handler = getattr(self, f"_on_{route}")
        if route in ("status", "stream", "result", "cancel"):
            return await handler(request, record, request_id, prefix)
        return await handler(request, record)

    async def _record(self, request: web.Request, route: str, request_id: str | None) -> Recorded:
        # A multipart part is streamed to disk by its handler and not kept here.
        raw = b"" if route == "upload_part" else await request.read()
        body = None
        if raw and request.content_type == "application/json":
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        conn = self._by_handler.get(request.protocol)
        if conn is not None:
            conn.routes[route] += 1
        record = Recorded(
            route,
            request.method,
            request.path,
            dict(request.query),
            _Headers(request.headers.items()),
            body,
            request_id,
            time.monotonic(),
            raw,
            connection=conn.id if conn is not None else None,
        )
        self.requests.append(record)
        self._route_counts[route] += 1
        self._count(route, request_id)
        return record

    def _auth_problem(self, route: str, request: web.Request) -> str | None:
        given = request.headers.get("Authorization")
        if route in _KEY_ROUTES and given != f"Key {self.key}":
            return f"Authorization must be 'Key <FAL_KEY>', got {given!r}"
        if route in _CDN_ROUTES:
            scheme, _, token = (given or "").partition(" ")
            if scheme != "Bearer" or token not in self._tokens:
                return f"upload Authorization must be 'Bearer <token from /storage/auth/token>', got {given!r}"
        return None

    def _apply_fault(self, request: web.Request, fault: _Fault, request_id: str | None) -> web.StreamResponse:
        if fault.kind == "drop":
            return self._abort(request)
        if isinstance(fault.status, str):
            return _spec_failure(fault.status, request_id, fault.headers)
        return _failure(fault.status, copy.deepcopy(fault.body), fault.headers)

    @staticmethod
    def _abort(request: web.Request) -> web.StreamResponse:
        """Close the connection without an answer, as a crash of the network path would."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=204)  # never reaches the client

    # ---- queue: submit

    async def _on_submit(self, request: web.Request, record: Recorded) -> web.Response:
        endpoint_id = request.path.strip("/")
        contract = self.contracts.get(endpoint_id)
        if contract is None:
            self.violations.append(f"submit to unknown endpoint {endpoint_id!r}")
            return _json(404, {"detail": f"Application '{endpoint_id}' not found"})
        if record.json is None and record.raw:
            self.violations.append(f"submit {endpoint_id}: body is not JSON")
            return _json(422, {"detail": [{"loc": ["body"], "msg": "Invalid JSON body", "type": "value_error"}]})
        errors = self._validation_errors(contract, record.json)
        if errors:
            return _json(422, {"detail": errors})
        job = self._new_job(contract, record.json)
        record.request_id = job.request_id
        self._count("submit", job.request_id)
        if self._drop_after_submit:
            self._drop_after_submit -= 1
            record.fault = "drop_after_submit"
            return self._abort(request)
        body = self._urls(job) | {"queue_position": job.phase().position or 0, "status": IN_QUEUE}
        return _json(200, body, {"x-fal-request-id": job.request_id})

    def _validation_errors(self, contract: _Contract, payload: Any) -> list[dict]:
        errors = []
        for err in sorted(contract.input_validator.iter_errors(payload), key=lambda e: list(map(str, e.path))):
            loc = ["body", *err.absolute_path]
            if err.validator == "required" and isinstance(err.instance, dict):
                loc += [p for p in err.validator_value if p not in err.instance][:1]
            self.violations.append(f"submit {contract.endpoint_id}: {contract.input_name} at {loc}: {err.message}")
            errors.append({"loc": loc, "msg": err.message, "type": "value_error"})
        return errors

    def _new_job(self, contract: _Contract, payload: Any) -> Job:
        script = (
            self._next_scripts.pop(0) if self._next_scripts else self._scripts.get(contract.endpoint_id, JobScript())
        )
        voice = (payload.get("voice_setting") or {}).get("voice_id") if isinstance(payload, dict) else None
        if voice in self.expired_voices:  # MiniMax deleted the clone: the TTS request runs and fails, as fal says
            script = dataclasses.replace(script, error=expired_voice_error(voice))
        request_id = str(uuid.uuid4())
        output = (
            copy.deepcopy(script.output)
            if script.output is not None
            else synthesise_output(contract, self.base_url, request_id, script.output_size)
        )
        if script.output_without_video:  # a model answering without its file: only ever scripted
            for name in ("video", "audio"):
                output.pop(name, None)
        job = Job(
            request_id,
            contract.endpoint_id,
            payload,
            script,
            output,
            self.base_url,
            pending_failures=list(script.result_failures),
        )
        self.jobs[request_id] = job
        return job

    @staticmethod
    def _urls(job: Job) -> dict:
        return {
            "request_id": job.request_id,
            "response_url": job.response_url,
            "status_url": job.response_url + "/status",
            "cancel_url": job.response_url + "/cancel",
        }

    # ---- queue: status, stream, result, cancel

    def _find_job(self, request: web.Request, request_id: str, prefix: str) -> Job | None:
        job = self.jobs.get(request_id)
        if job is not None and prefix != job.app_path:
            self.violations.append(
                f"{request.method} {request.path}: built from the endpoint id; "
                f"use the returned URLs under /{job.app_path}/requests/"
            )
            return None
        return job

    def _status_body(self, job: Job, phase: Phase, with_logs: bool) -> dict:
        body = {"status": phase.status} | self._urls(job)
        body["logs"] = job.log_entries(phase.n_logs) if with_logs else None
        if phase.status == IN_QUEUE:
            body["queue_position"] = phase.position
        if phase.status == COMPLETED:
            body["metrics"] = job.metrics()
            body |= self._completion_error(job)
        return body

    @staticmethod
    def _completion_error(job: Job) -> dict:
        if job.cancelled:
            return {"error": _CANCELLED["detail"], "error_type": _CANCELLED["error_type"]}
        error = job.script.error
        if error is None:
            return {}
        detail = error.get("detail")
        message = error.get("error") or (
            detail if isinstance(detail, str) else f"Invalid status code: {error.get('status', 500)}"
        )
        error_type = error.get("error_type")
        if error_type is None and isinstance(detail, list) and detail and isinstance(detail[0], dict):
            error_type = detail[0].get("type")
        return {"error": message, "error_type": error_type}

    async def _on_status(self, request: web.Request, record: Recorded, request_id: str, prefix: str) -> web.Response:
        job = self._find_job(request, request_id, prefix)
        if job is None:
            return _json(404, {"detail": "Request not found"})
        phase = job.phase()
        code = 200 if phase.status == COMPLETED else 202
        return _json(code, self._status_body(job, phase, _wants_logs(request)), {"x-fal-request-id": job.request_id})

    async def _on_stream(
        self, request: web.Request, record: Recorded, request_id: str, prefix: str
    ) -> web.StreamResponse:
        job = self._find_job(request, request_id, prefix)
        if job is None:
            return _json(404, {"detail": "Request not found"})
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "x-fal-request-id": job.request_id,
            }
        )
        stall_after = self._stalls.pop(0) if self._stalls else None
        if stall_after is not None:
            record.fault = "stall"
        task = asyncio.current_task()
        self._streams.add(task)
        try:
            await response.prepare(request)
            await self._pump_stream(request, response, job, _wants_logs(request), stall_after)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._streams.discard(task)
        return response

    async def _pump_stream(
        self,
        request: web.Request,
        response: web.StreamResponse,
        job: Job,
        with_logs: bool,
        stall_after: int | None = None,
    ) -> None:
        last_body, last_write, sent = None, time.monotonic(), 0
        while True:
            if stall_after is not None and sent >= stall_after:
                await self._silence(request)
            phase = job.phase()
            body = self._status_body(job, phase, with_logs)
            now = time.monotonic()
            if body != last_body:
                await response.write(f"data: {json.dumps(body)}\n\n".encode())
                last_body, last_write, sent = body, now, sent + 1
            elif now - last_write >= self.keepalive:
                await response.write(b": ping\n\n")
                last_write = now
            if phase.status == COMPLETED:
                await response.write_eof()
                return
            wake = min(phase.next_change or float("inf"), last_write + self.keepalive)
            try:
                await asyncio.wait_for(job.changed.wait(), timeout=max(0.0, wake - time.monotonic()))
            except TimeoutError:
                pass

    async def _silence(self, request: web.Request) -> None:
        """Send nothing more, and keep the connection open until the client closes it (or the server stops)."""
        conn = self._by_handler.get(request.protocol)
        if conn is None:
            await asyncio.Event().wait()
        await conn.lost.wait()
        raise ConnectionResetError("client closed a stalled stream")

    async def _on_result(self, request: web.Request, record: Recorded, request_id: str, prefix: str) -> web.Response:
        job = self._find_job(request, request_id, prefix)
        if job is None:
            return _json(404, {"detail": "Request not found"})
        headers = {"x-fal-request-id": job.request_id}
        if job.phase().status != COMPLETED:
            return _json(400, {"detail": "Request is still in progress"}, headers)
        if job.pending_failures:
            spec = job.pending_failures.pop(0)
            record.fault = str(spec)
            if isinstance(spec, int):
                return _failure(spec, headers=headers)
            return _spec_failure(spec, job.request_id)
        if job.cancelled:
            return _failure(400, dict(_CANCELLED), headers)
        if job.script.error is not None:
            return self._scripted_error(job.script.error, headers)
        return _json(200, job.output, headers)

    @staticmethod
    def _scripted_error(error: dict, headers: dict) -> web.Response:
        body = {"detail": copy.deepcopy(error.get("detail"))}
        if error.get("error_type"):
            body["error_type"] = error["error_type"]
        return _failure(int(error.get("status", 500)), body, headers)

    async def _on_cancel(self, request: web.Request, record: Recorded, request_id: str, prefix: str) -> web.Response:
        job = self._find_job(request, request_id, prefix)
        if job is None:
            return _json(404, {"status": "NOT_FOUND"})
        now = time.monotonic()
        status = job.phase(now).status
        job.cancel_asked.append(status)
        if status == COMPLETED:
            return _json(400, {"status": "ALREADY_COMPLETED"})
        # Queued: fal removes it. In progress: fal signals the runner and the model decides; one that
        # ignores the signal runs on, completes with its output and bills.
        if status == IN_QUEUE or not job.script.ignores_cancel:
            job.cancelled_at = now
            job.notify()
        return _json(202, {"status": "CANCELLATION_REQUESTED"})

    # ---- storage

    async def _on_token(self, request: web.Request, record: Recorded) -> web.Response:
        if request.query.get("storage_type") != "fal-cdn-v3":
            return _json(400, {"detail": "Unsupported storage type"})
        token = uuid.uuid4().hex
        self._tokens.add(token)
        expires = datetime.now(UTC) + timedelta(hours=1)
        return _json(
            200, {"token": token, "token_type": "Bearer", "base_url": self.base_url, "expires_at": expires.isoformat()}
        )

    async def _on_upload(self, request: web.Request, record: Recorded) -> web.Response:
        if request.path != "/files/upload":
            self.violations.append(f"POST {request.path}: no such fal CDN route")
            return _json(404, {"detail": "Not Found"})
        content_type = request.headers.get("Content-Type", "application/octet-stream")
        name = request.headers.get("X-Fal-File-Name") or _default_name(content_type)
        url = self._store(uuid.uuid4().hex, name, record.raw, content_type)
        return _json(200, {"access_url": url})

    async def _on_upload_initiate(self, request: web.Request, record: Recorded) -> web.Response:
        body = record.json if isinstance(record.json, dict) else {}
        content_type = body.get("content_type") or "application/octet-stream"
        name = body.get("file_name") or _default_name(content_type)
        upload_id = uuid.uuid4().hex
        file_url = f"{self.base_url}/files/{upload_id}/{quote(name)}"
        self._initiated[upload_id] = (file_url, content_type)
        return _json(200, {"upload_url": f"{self.base_url}/upload/{upload_id}", "file_url": file_url})

    async def _on_upload_put(self, request: web.Request, record: Recorded) -> web.Response:
        upload_id = request.path.removeprefix("/upload/")
        if upload_id not in self._initiated:
            return _json(404, {"detail": "Upload not found"})
        file_url, content_type = self._initiated.pop(upload_id)
        self.uploads[file_url] = record.raw
        self._content_types[file_url] = request.headers.get("Content-Type", content_type)
        return web.Response(status=200)

    # fal_client 1.0.3 above 100 MB: POST /files/upload/multipart -> {access_url, uploadId}; PUT
    # {access_url}/multipart/{uploadId}/{n} for each part (reads the etag header); POST .../{uploadId}/complete
    # with {"parts": [{partNumber, etag}]} (in the order the parts finished, so not sorted).

    async def _on_upload_multipart(self, request: web.Request, record: Recorded) -> web.Response:
        content_type = request.headers.get("Content-Type", "application/octet-stream")
        name = request.headers.get("X-Fal-File-Name") or _default_name(content_type)
        upload_id = uuid.uuid4().hex
        folder = Path(self._tmp) / "multipart" / upload_id
        folder.mkdir(parents=True)
        url = f"{self.base_url}/files/{uuid.uuid4().hex}/{quote(name)}"
        self._multipart[upload_id] = _Multipart(url, content_type, folder)
        return _json(200, {"access_url": url, "uploadId": upload_id})

    def _multipart_target(self, request: web.Request) -> tuple[str, _Multipart | None, str]:
        """(uploadId, its upload or None, last path segment); a wrong access_url is a violation."""
        file_path, upload_id, last = _MULTIPART_PATH.fullmatch(request.raw_path.split("?", 1)[0]).groups()
        upload = self._multipart.get(upload_id)
        if upload is not None and self.base_url + file_path != upload.url:
            self.violations.append(f"{request.method} {request.path}: not under the access_url {upload.url}")
            return upload_id, None, last
        return upload_id, upload, last

    async def _on_upload_part(self, request: web.Request, record: Recorded) -> web.Response:
        upload_id, upload, number = self._multipart_target(request)
        if upload is None:
            return _json(404, {"detail": "Upload not found"})
        n = int(number)
        if not 1 <= n <= 10000:
            self.violations.append(f"PUT {request.path}: part numbers run from 1 to 10000")
            return _json(400, {"detail": "Invalid part number"})
        md5, size = hashlib.md5(), 0
        partial = upload.dir / f"{n}.{uuid.uuid4().hex}"
        try:
            with open(partial, "wb") as out:
                async for chunk in request.content.iter_chunked(1 << 20):
                    md5.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        if upload_id not in self._multipart:  # completed or gone meanwhile
            partial.unlink(missing_ok=True)
            return _json(404, {"detail": "Upload not found"})
        os.replace(partial, upload.dir / f"{n}.part")
        etag = f'"{md5.hexdigest()}"'
        upload.parts[n] = (etag, size)
        return web.Response(status=200, headers={"ETag": etag})

    async def _on_upload_complete(self, request: web.Request, record: Recorded) -> web.Response:
        upload_id, upload, _ = self._multipart_target(request)
        if upload is None:
            if upload_id in self._completed:  # a retried complete whose first answer was lost
                return _json(200, {"access_url": self._completed[upload_id]})
            return _json(404, {"detail": "Upload not found"})
        listed = record.json.get("parts") if isinstance(record.json, dict) else None
        problem = self._parts_problem(upload, listed)
        if problem:
            self.violations.append(f"POST {request.path}: {problem}")
            return _json(400, {"detail": problem})
        numbers = sorted(p["partNumber"] for p in listed)
        del self._multipart[upload_id]
        final = Path(self._tmp) / "files" / upload_id
        await asyncio.to_thread(_join_parts, upload.dir, numbers, final)
        dict.__setitem__(self.uploads, upload.url, final)
        self._content_types[upload.url] = upload.content_type
        self._completed[upload_id] = upload.url
        return _json(200, {"access_url": upload.url})

    @staticmethod
    def _parts_problem(upload: _Multipart, listed: Any) -> str | None:
        if not isinstance(listed, list) or not listed:
            return 'complete needs {"parts": [{"partNumber": n, "etag": ...}, ...]}'
        seen = set()
        for part in listed:
            n = part.get("partNumber") if isinstance(part, dict) else None
            if not isinstance(n, int) or n in seen:
                return f"bad or repeated part entry {part!r}"
            seen.add(n)
            if n not in upload.parts:
                return f"part {n} was never uploaded"
            if part.get("etag") != upload.parts[n][0]:
                return f"part {n}: etag {part.get('etag')!r} is not the {upload.parts[n][0]!r} its PUT answered"
        return None

    def _store(self, upload_id: str, name: str, data: bytes, content_type: str) -> str:
        url = f"{self.base_url}/files/{upload_id}/{quote(name)}"
        self.uploads[url] = data
        self._content_types[url] = content_type
        return url

    async def _on_file(self, request: web.Request, record: Recorded) -> web.Response:
        url = self.base_url + request.raw_path.split("?", 1)[0]
        if url in self.uploads:
            path = self.uploads.path(url)
            if path is not None:
                return web.FileResponse(path, headers={"Content-Type": self._content_types[url]})
            return web.Response(body=self.uploads[url], content_type=self._content_types[url])
        match = _SYNTH_FILE.match(request.path)
        if match:
            job = self.jobs.get(match.group(1))
            return await self._serve_output(request, match.group(2), job.script if job else JobScript())
        return _json(404, {"detail": "File not found"})

    async def _serve_output(self, request: web.Request, ext: str, script: JobScript) -> web.StreamResponse:
        if script.output_status is not None:
            detail = "File not found" if script.output_status == 404 else HTTPStatus(script.output_status).phrase
            return _json(script.output_status, {"detail": detail})
        if script.output_html:
            return web.Response(text=_HTML_PAGE, content_type="text/html")
        head, zeros = media_parts(ext, script.output_size)
        total = len(head) + zeros
        response = web.StreamResponse(headers={"Content-Type": _MEDIA[ext][1]})
        response.content_length = total
        await response.prepare(request)
        if request.method == "HEAD":
            await response.write_eof()
            return response
        left = total // 2 if script.output_truncated else total
        try:
            await response.write(head[:left])
            left -= min(left, len(head))
            while left > 0:
                chunk = _ZEROS[: min(left, len(_ZEROS))]
                await response.write(chunk)
                left -= len(chunk)
            if script.output_truncated:
                if request.transport is not None:
                    request.transport.close()  # flushes what was written, then closes: short of Content-Length
                return response
            await response.write_eof()
        except ConnectionError:
            pass
        return response


def _join_parts(folder: Path, numbers: list[int], final: Path) -> None:
    """Append the listed parts, in order, to the first one, which becomes ``final``; drop the rest."""
    first = folder / f"{numbers[0]}.part"
    with open(first, "ab") as out:
        for n in numbers[1:]:
            part = folder / f"{n}.part"
            with open(part, "rb") as source:
                shutil.copyfileobj(source, out, 1 << 20)
            part.unlink()
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(first, final)
    shutil.rmtree(folder, ignore_errors=True)


def _default_name(content_type: str) -> str:
    return "file" + (mimetypes.guess_extension(content_type) or ".bin")
