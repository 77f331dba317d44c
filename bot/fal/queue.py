"""A small typed client for fal's queue, over httpx and fal_client.

fal_client supplies the hosts (FAL_QUEUE_RUN_HOST …), credentials, request handles, status polls
(with its own retries) and uploads. The rest is done here, each with one retry policy:

* a submit that is never sent twice: fal_client retries a submit after any transport error, which can
  queue a second paid job when only the answer was lost. Here a submit is resent only when it surely
  never left (no connection, or no free connection in the pool) or fal answered with an error;
* following a job through fal's status stream (server-sent events), so a job costs the same few
  requests however long it runs, with polling as the fallback;
* fetching the result directly (fal_client's handle.get() polls the status once more first);
* cancelling with fal's answer (requested, already completed, not found), which fal_client drops.

Status streams and short requests use separate connection pools, so a thousand open streams
cannot starve submits and result fetches. The streams' pool is split into small clients, because
httpx looks through every connection of a pool on each request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from os import PathLike
from pathlib import Path
from typing import Any

import fal_client
import fal_client.auth
import fal_client.client as fal_client_core
import httpx
from httpx_sse import SSEError, aconnect_sse

from bot import metrics
from bot.fal.errors import (
    AuthRejected,
    FalError,
    FalUnavailable,
    InputRejected,
    JobCancelled,
    JobFailed,
    MissingKey,
    SubmissionUnknown,
    describe_detail,
)
from bot.i18n import Text, _

log = logging.getLogger(__name__)

IN_QUEUE, IN_PROGRESS, COMPLETED = "IN_QUEUE", "IN_PROGRESS", "COMPLETED"
CANCELLED_ERROR_TYPES = {"client_cancelled", "request_cancelled"}
REQUEST_CONNECTIONS = 64  # submits, results, status polls and cancels
STREAM_CONNECTIONS = 128  # status streams open at once; beyond that, jobs are polled
STREAMS_PER_CLIENT = 32
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Submission:
    endpoint_id: str
    request_id: str
    status_url: str
    response_url: str
    cancel_url: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Submission:
        return cls(**{k: data[k] for k in ("endpoint_id", "request_id", "status_url", "response_url", "cancel_url")})


@dataclass(frozen=True)
class QueueUpdate:
    state: str
    position: int | None = None
    logs: tuple[str, ...] = ()  # lines new since the previous update

    @property
    def done(self) -> bool:
        return self.state == COMPLETED

    @property
    def running(self) -> bool:
        """A runner has the job (so fal may bill it)."""
        return self.state == IN_PROGRESS


class CancelAnswer(StrEnum):
    REQUESTED = "CANCELLATION_REQUESTED"  # a queued job is removed; a running one only gets the signal
    ALREADY_COMPLETED = "ALREADY_COMPLETED"
    NOT_FOUND = "NOT_FOUND"


class _LogCursor:
    """fal repeats the whole log on every status; this passes on only the new lines."""

    def __init__(self) -> None:
        self.seen = 0

    def update(self, data: dict[str, Any]) -> QueueUpdate:
        logs = data.get("logs") or []
        lines = tuple(str(entry.get("message", "")) if isinstance(entry, dict) else str(entry) for entry in logs)
        new, self.seen = lines[self.seen :], max(self.seen, len(lines))
        return QueueUpdate(
            state=data.get("status", ""), position=data.get("queue_position"), logs=tuple(line for line in new if line)
        )


def _status_dict(status: fal_client.Status) -> dict[str, Any]:
    if isinstance(status, fal_client.Queued):
        return {"status": IN_QUEUE, "queue_position": status.position}
    if isinstance(status, fal_client.InProgress):
        return {"status": IN_PROGRESS, "logs": status.logs}
    assert isinstance(status, fal_client.Completed)
    return {"status": COMPLETED, "logs": status.logs, "error": status.error, "error_type": status.error_type}


def error_from_response(status: int, body: Any, headers: dict[str, str] | httpx.Headers, what: str | Text) -> FalError:
    """Turn a fal error response into a typed error with a message a person can act on."""
    detail = body.get("detail") if isinstance(body, dict) else body
    error_type = (body.get("error_type") if isinstance(body, dict) else None) or headers.get("x-fal-error-type")
    message, field = describe_detail(detail)
    if status in (401, 403):
        return AuthRejected(_("fal rejected the API key (HTTP {status}); check FAL_KEY", status=status), detail=detail)
    if status == 402 or "locked" in message.lower():
        return JobFailed(_("the fal account is out of credit or locked; top it up at fal.ai"), detail=detail)
    if error_type in CANCELLED_ERROR_TYPES or status == 499:
        # Translators: {what} is one of the phrases naming a request ("request {request_id}", "uploading {name}"…)
        return JobCancelled(_("{what} was cancelled", what=what), detail=detail)
    if status == 422:
        return InputRejected(_("fal rejected the input: {message}", message=message), field=field, detail=detail)
    if status == 404:
        return JobFailed(_("fal does not know {what} (HTTP 404): {message}", what=what, message=message), detail=detail)
    if status >= 500 or status == 429:
        kind = error_type or f"HTTP {status}"
        return FalUnavailable(_("fal is having trouble ({kind}): {message}", kind=kind, message=message), detail=detail)
    return JobFailed(
        _("{what} failed (HTTP {status}): {message}", what=what, status=status, message=message), detail=detail
    )


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _error(response: httpx.Response, what: str | Text) -> FalError:
    return error_from_response(response.status_code, _body(response), response.headers, what)


def _retryable_status(response: httpx.Response) -> bool:
    if response.status_code == 504 and response.headers.get("x-fal-request-timeout-type"):
        return False  # the caller's own start timeout ran out: fal says not to retry
    return response.status_code == 429 or response.status_code >= 500


class FalQueue:
    def __init__(
        self,
        key: str | None = None,
        *,
        poll_min: float = 1.0,
        poll_max: float = 15.0,
        stream_idle: float = 45.0,
        stream_attempts: int = 2,
        attempts: int = 5,
        backoff: float = 0.5,
        request_connections: int = REQUEST_CONNECTIONS,
        stream_connections: int = STREAM_CONNECTIONS,
    ) -> None:
        self._key = key
        self.poll_min, self.poll_max = poll_min, poll_max
        self.stream_idle = stream_idle  # fal sends a keep-alive comment every 15 s
        self.stream_attempts = stream_attempts
        self.attempts = attempts
        self.backoff = backoff
        self.request_connections = request_connections
        self.stream_connections = stream_connections
        # Requests wait here rather than in httpx's pool, which looks through every waiting request each time a
        # connection frees up: a thousand submits queued there cost seconds of CPU.
        self._request_slots = asyncio.Semaphore(request_connections)
        # A request whose cancel fal took: a job's own task and a Cancel button may both ask, and fal answers the
        # second ALREADY_COMPLETED, which would read as "finished before the cancel". One cancel per request.
        self._cancelled: dict[str, CancelAnswer] = {}
        self._cancelling: dict[str, asyncio.Lock] = {}
        self._requests: httpx.AsyncClient | None = None
        self._streams: list[httpx.AsyncClient] = []
        self._stream_use: list[int] = []  # open streams per client
        self._stream_room: list[int] = []  # connections per client
        self._warm: dict[str, httpx.AsyncClient] = {}  # request id -> the stream client that saw it complete
        self._fal: fal_client.AsyncClient | None = None
        self._lock = asyncio.Lock()

    async def _clients(self) -> httpx.AsyncClient:
        async with self._lock:
            if self._requests is None:
                try:
                    auth = (
                        fal_client.auth.AuthCredentials("Key", self._key)
                        if self._key
                        else await fal_client.auth.fetch_auth_credentials_async()
                    )
                except Exception as exc:  # fal_client's MissingCredentialsError and kin
                    raise MissingKey(
                        _("FAL_KEY is not set: get a key at https://fal.ai/dashboard/keys and put it in .env")
                    ) from exc
                headers = {"Authorization": auth.header_value, "User-Agent": fal_client_core.USER_AGENT}
                self._requests = httpx.AsyncClient(
                    headers=headers,
                    timeout=fal_client_core.QUEUE_POLL_TIMEOUT,
                    limits=httpx.Limits(
                        max_connections=self.request_connections, max_keepalive_connections=self.request_connections
                    ),
                )
                sizes = [STREAMS_PER_CLIENT] * (self.stream_connections // STREAMS_PER_CLIENT)
                sizes += (
                    [self.stream_connections % STREAMS_PER_CLIENT]
                    if self.stream_connections % STREAMS_PER_CLIENT
                    else []
                )
                self._streams = [
                    httpx.AsyncClient(
                        headers=headers,
                        timeout=httpx.Timeout(30.0, read=self.stream_idle, pool=5.0),
                        limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                    )
                    for size in sizes
                ]
                self._stream_use = [0] * len(sizes)
                self._stream_room = sizes
                self._fal = fal_client.AsyncClient(key=auth.token if auth.scheme == "Key" else None)
            return self._requests

    async def aclose(self) -> None:
        for client in [self._requests, *self._streams]:
            if client is not None:
                await client.aclose()
        self._requests, self._streams, self._fal = None, [], None

    async def _pause(self, attempt: int) -> None:
        await asyncio.sleep(self.backoff * (2**attempt) * random.uniform(0.75, 1.25))

    def _handle(self, http: httpx.AsyncClient, sub: Submission) -> fal_client.AsyncRequestHandle:
        return fal_client.AsyncRequestHandle(
            request_id=sub.request_id,
            response_url=sub.response_url,
            status_url=sub.status_url,
            cancel_url=sub.cancel_url,
            client=http,
        )

    async def submission_for(self, endpoint_id: str, request_id: str) -> Submission:
        """A request known only by its id (the CLI's follow-ups), with the URLs fal_client builds for it."""
        requests = await self._clients()
        handle = fal_client.AsyncRequestHandle.from_request_id(requests, endpoint_id, request_id)
        return Submission(endpoint_id, request_id, handle.status_url, handle.response_url, handle.cancel_url)

    async def submit(self, endpoint_id: str, payload: dict[str, Any]) -> Submission:
        """Queue a job. Resent only when fal surely did not take it (never sent, or an error answer)."""
        requests = await self._clients()
        url = fal_client_core.QUEUE_URL_FORMAT + endpoint_id
        for attempt in range(self.attempts):
            try:
                metrics.FAL_REQUESTS.labels("submit").inc()
                async with self._request_slots:
                    response = await requests.post(
                        url, json=payload, timeout=httpx.Timeout(120.0, connect=15.0, pool=60.0)
                    )
            except NEVER_SENT as exc:
                log.warning("fal submit to %s was not sent (%s); retrying", endpoint_id, exc.__class__.__name__)
            except httpx.TransportError as exc:
                raise SubmissionUnknown(_("the connection to fal broke while the job was being sent")) from exc
            else:
                if response.status_code < 300:
                    data = response.json()
                    return Submission(
                        endpoint_id, data["request_id"], data["status_url"], data["response_url"], data["cancel_url"]
                    )
                if not _retryable_status(response):
                    raise _error(response, _("the request to {endpoint_id}", endpoint_id=endpoint_id))
                log.warning("fal submit to %s answered %s; retrying", endpoint_id, response.status_code)
            if attempt + 1 < self.attempts:
                await self._pause(attempt)
        raise FalUnavailable(
            _(
                "fal did not accept the job for {endpoint_id} after {attempts} tries; try again later",
                endpoint_id=endpoint_id,
                attempts=self.attempts,
            )
        )

    async def updates(self, sub: Submission) -> AsyncIterator[QueueUpdate]:
        """Status changes until COMPLETED: from the status stream, else by polling with backoff.

        Raises FalUnavailable when fal cannot be reached; the request is not lost, and following it
        again later (updates, then result) carries on.
        """
        cursor = _LogCursor()
        for _attempt in range(self.stream_attempts):
            async with self._stream_client() as client:
                if client is None:
                    break
                try:
                    async for data in self._stream(client, sub):
                        update = cursor.update(data)
                        if update.done:
                            self._warm[sub.request_id] = client
                        yield update
                        if update.done:
                            return
                except (httpx.HTTPError, SSEError, ValueError, KeyError) as exc:
                    log.info(
                        "status stream for %s ended early (%s); %s",
                        sub.request_id,
                        exc.__class__.__name__,
                        "following it again" if _attempt + 1 < self.stream_attempts else "polling instead",
                    )
        async for update in self._poll(sub, cursor):
            yield update
            if update.done:
                return

    @asynccontextmanager
    async def _stream_client(self) -> AsyncIterator[httpx.AsyncClient | None]:
        """A client with a free status-stream connection, or None at once when all are taken (the job is polled instead)."""
        await self._clients()
        free = [i for i, used in enumerate(self._stream_use) if used < self._stream_room[i]]
        if not free:
            yield None
            return
        index = min(free, key=self._stream_use.__getitem__)
        self._stream_use[index] += 1
        try:
            yield self._streams[index]
        finally:
            if index < len(self._stream_use):
                self._stream_use[index] -= 1

    async def _stream(self, client: httpx.AsyncClient, sub: Submission) -> AsyncIterator[dict[str, Any]]:
        metrics.FAL_REQUESTS.labels("stream").inc()
        async with aconnect_sse(client, "GET", sub.status_url + "/stream", params={"logs": "1"}) as source:
            if source.response.status_code >= 400:
                await source.response.aread()
                raise httpx.HTTPStatusError("stream refused", request=source.response.request, response=source.response)
            async for event in source.aiter_sse():
                if event.data:
                    yield json.loads(event.data)
        raise httpx.RemoteProtocolError("the status stream closed before COMPLETED")

    async def _poll(self, sub: Submission, cursor: _LogCursor) -> AsyncIterator[QueueUpdate]:
        delay = self.poll_min
        while True:
            update = cursor.update(await self._status(sub))
            yield update
            if update.done:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.poll_max)

    async def _status(self, sub: Submission) -> dict[str, Any]:
        requests = await self._clients()
        metrics.FAL_REQUESTS.labels("status").inc()
        try:
            async with self._request_slots:  # fal_client retries transient failures itself
                status = await self._handle(requests, sub).status(with_logs=True)
        except fal_client.FalClientHTTPError as exc:
            raise _error(exc.response, _("request {request_id}", request_id=sub.request_id)) from exc
        except httpx.TransportError as exc:
            raise FalUnavailable(
                _("lost contact with fal while following request {request_id}", request_id=sub.request_id)
            ) from exc
        return _status_dict(status)

    async def status(self, sub: Submission) -> dict[str, Any]:
        """One status check, with logs."""
        return {"request_id": sub.request_id, "model": sub.endpoint_id, **await self._status(sub)}

    async def result(self, sub: Submission) -> dict[str, Any]:
        """The finished job's output. A failed job's real error comes from here, as fal documents."""
        requests = await self._clients()
        warm = self._warm.pop(sub.request_id, None)  # the stream's connection, just freed: no new TLS handshake
        what = _("the {endpoint_id} job {request_id}", endpoint_id=sub.endpoint_id, request_id=sub.request_id)
        for attempt in range(self.attempts):
            metrics.FAL_REQUESTS.labels("result").inc()
            try:
                if warm is not None:
                    response = await warm.get(sub.response_url, timeout=fal_client_core.QUEUE_POLL_TIMEOUT)
                    warm = None
                else:
                    async with self._request_slots:
                        response = await requests.get(sub.response_url)
            except httpx.TransportError as exc:
                log.warning("fal result for %s: %s; retrying", sub.request_id, exc.__class__.__name__)
            else:
                if response.status_code < 300:
                    data = response.json()
                    if not isinstance(data, dict):
                        raise JobFailed(_("fal returned something other than a result for {what}", what=what))
                    return data
                error = _error(response, what)
                if not (isinstance(error, FalUnavailable) and _retryable_status(response)):
                    raise error
                log.warning("fal result for %s answered %s; retrying", sub.request_id, response.status_code)
            if attempt + 1 < self.attempts:
                await self._pause(attempt)
        raise FalUnavailable(
            _("fal did not return the result of {what} after {attempts} tries", what=what, attempts=self.attempts)
        )

    async def run(self, sub: Submission) -> dict[str, Any]:
        """Follow a submitted job to the end and return its output."""
        async for update in self.updates(sub):
            if update.done:
                break
        return await self.result(sub)

    async def cancel(self, sub: Submission) -> CancelAnswer:
        """Ask fal to cancel. A queued job is removed; a running one only gets a signal, and may still finish.
        Asked again (or at once from elsewhere in this process), the answer fal gave is repeated."""
        async with self._cancelling.setdefault(sub.request_id, asyncio.Lock()):
            answer = self._cancelled.get(sub.request_id) or await self._cancel(sub)
            if answer is CancelAnswer.REQUESTED:
                self._cancelled[sub.request_id] = answer
            return answer

    async def _cancel(self, sub: Submission) -> CancelAnswer:
        requests = await self._clients()
        metrics.FAL_REQUESTS.labels("cancel").inc()
        try:
            async with self._request_slots:
                response = await requests.put(sub.cancel_url)
        except httpx.TransportError as exc:
            raise FalUnavailable(
                _("could not reach fal to cancel request {request_id}", request_id=sub.request_id)
            ) from exc
        answer = _body(response).get("status") if isinstance(_body(response), dict) else None
        if isinstance(answer, str) and answer in CancelAnswer.__members__.values():
            return CancelAnswer(answer)
        if response.status_code < 300:
            return CancelAnswer.REQUESTED
        if response.status_code == 404:
            return CancelAnswer.NOT_FOUND
        if response.status_code in (400, 409):
            return CancelAnswer.ALREADY_COMPLETED
        raise _error(response, _("cancelling {request_id}", request_id=sub.request_id))

    async def upload(self, data: bytes, content_type: str, file_name: str) -> str:
        """Host bytes on fal's storage; returns the public URL."""
        metrics.FAL_REQUESTS.labels("upload").inc()
        fal = await self._storage()
        with _storage_errors(file_name):
            return str(await fal.upload(data, content_type, file_name))

    async def upload_file(self, path: str | PathLike[str]) -> str:
        metrics.FAL_REQUESTS.labels("upload").inc()
        fal = await self._storage()
        with _storage_errors(str(path)):
            return str(await fal.upload_file(Path(path)))

    async def _storage(self) -> fal_client.AsyncClient:
        await self._clients()
        assert self._fal is not None
        return self._fal


@contextmanager
def _storage_errors(name: str) -> Iterator[None]:
    try:
        yield
    except fal_client.FalClientHTTPError as exc:
        raise _error(exc.response, _("uploading {name}", name=name)) from exc
    except httpx.HTTPStatusError as exc:
        raise _error(exc.response, _("uploading {name}", name=name)) from exc
    except httpx.TransportError as exc:
        raise FalUnavailable(_("could not upload {name} to fal storage: {error}", name=name, error=str(exc))) from exc
