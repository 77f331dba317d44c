"""A small typed client for fal's queue, over fal_client.

fal_client supplies the hosts (FAL_QUEUE_RUN_HOST …), credentials, status polling, cancel and
uploads. Two things it lacks are done here: following a job through fal's status stream
(server-sent events, so a job costs the same few requests however long it runs), and a
submit that is never sent twice (fal_client retries a submit after any transport error, which
can queue a second paid job when only the answer was lost).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from os import PathLike
from typing import Any

import fal_client
import fal_client.auth
import fal_client.client as fal_client_core
import httpx
from httpx_sse import SSEError, aconnect_sse

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

log = logging.getLogger(__name__)

IN_QUEUE, IN_PROGRESS, COMPLETED = "IN_QUEUE", "IN_PROGRESS", "COMPLETED"
CANCELLED_ERROR_TYPES = {"client_cancelled", "request_cancelled"}


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

    @classmethod
    def for_request(cls, endpoint_id: str, request_id: str) -> Submission:
        """URLs for a request known only by id (the CLI's follow-up commands), built as fal_client does."""
        handle = fal_client.AsyncRequestHandle.from_request_id(None, endpoint_id, request_id)  # type: ignore[arg-type]
        return cls(endpoint_id, request_id, handle.status_url, handle.response_url, handle.cancel_url)


@dataclass(frozen=True)
class QueueUpdate:
    state: str
    position: int | None = None
    logs: tuple[str, ...] = ()  # lines new since the previous update
    error: str | None = None
    error_type: str | None = None

    @property
    def done(self) -> bool:
        return self.state == COMPLETED


class _LogCursor:
    """fal repeats the whole log on every status; this passes on only the new lines."""

    def __init__(self) -> None:
        self.seen = 0

    def update(self, data: dict[str, Any]) -> QueueUpdate:
        logs = data.get("logs") or []
        lines = tuple(str(entry.get("message", "")) if isinstance(entry, dict) else str(entry) for entry in logs)
        new, self.seen = lines[self.seen:], max(self.seen, len(lines))
        return QueueUpdate(
            state=data.get("status", ""),
            position=data.get("queue_position"),
            logs=tuple(line for line in new if line),
            error=data.get("error"),
            error_type=data.get("error_type"),
        )


def _status_dict(status: fal_client.Status) -> dict[str, Any]:
    if isinstance(status, fal_client.Queued):
        return {"status": IN_QUEUE, "queue_position": status.position}
    if isinstance(status, fal_client.InProgress):
        return {"status": IN_PROGRESS, "logs": status.logs}
    assert isinstance(status, fal_client.Completed)
    return {"status": COMPLETED, "logs": status.logs, "error": status.error, "error_type": status.error_type}


def error_from_response(status: int, body: Any, headers: dict[str, str], what: str) -> FalError:
    """Turn a fal error response into a typed error with a message a person can act on."""
    detail = body.get("detail") if isinstance(body, dict) else body
    error_type = (body.get("error_type") if isinstance(body, dict) else None) or headers.get("x-fal-error-type")
    message, field = describe_detail(detail)
    if status in (401, 403):
        return AuthRejected(f"fal rejected the API key (HTTP {status}); check FAL_KEY", detail=detail)
    if status == 402 or "locked" in message.lower():
        return JobFailed("the fal account is out of credit or locked; top it up at fal.ai", detail=detail)
    if error_type in CANCELLED_ERROR_TYPES or status == 499:
        return JobCancelled(f"{what} was cancelled", detail=detail)
    if status == 422:
        return InputRejected(f"fal rejected the input: {message}", field=field, detail=detail)
    if status == 404:
        return JobFailed(f"fal does not know {what} (HTTP 404): {message}", detail=detail)
    if status >= 500 or status == 429:
        return FalUnavailable(f"fal is having trouble ({error_type or f'HTTP {status}'}): {message}", detail=detail)
    return JobFailed(f"{what} failed (HTTP {status}): {message}", detail=detail)


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


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
    ) -> None:
        self._key = key
        self.poll_min, self.poll_max = poll_min, poll_max
        self.stream_idle = stream_idle  # fal sends a keep-alive comment every 15 s
        self.stream_attempts = stream_attempts
        self.attempts = attempts
        self.backoff = backoff
        self._http: httpx.AsyncClient | None = None
        self._fal: fal_client.AsyncClient | None = None
        self._lock = asyncio.Lock()

    async def _client(self) -> httpx.AsyncClient:
        async with self._lock:
            if self._http is None:
                try:
                    auth = (
                        fal_client.auth.AuthCredentials("Key", self._key)
                        if self._key
                        else await fal_client.auth.fetch_auth_credentials_async()
                    )
                except Exception as exc:  # fal_client's MissingCredentialsError and kin
                    raise MissingKey("FAL_KEY is not set: get a key at https://fal.ai/dashboard/keys and put it in .env") from exc
                self._http = httpx.AsyncClient(
                    headers={"Authorization": auth.header_value, "User-Agent": fal_client_core.USER_AGENT},
                    timeout=fal_client_core.QUEUE_POLL_TIMEOUT,
                )
                self._fal = fal_client.AsyncClient(key=auth.token if auth.scheme == "Key" else None)
            return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._fal is not None:
            # fal_client.AsyncClient has no public close; its httpx client is a cached property.
            client = self._fal.__dict__.get("_client")
            if isinstance(client, httpx.AsyncClient):
                await client.aclose()
            self._fal = None

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

    async def submit(self, endpoint_id: str, payload: dict[str, Any]) -> Submission:
        """Queue a job. Resent only when fal surely did not take it (no connection, or an error answer)."""
        http = await self._client()
        url = fal_client_core.QUEUE_URL_FORMAT + endpoint_id
        for attempt in range(self.attempts):
            try:
                response = await http.post(url, json=payload, timeout=httpx.Timeout(120.0, connect=15.0))
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                log.warning("fal submit to %s could not connect (%s); retrying", endpoint_id, exc)
            except httpx.TransportError as exc:
                raise SubmissionUnknown(
                    f"the connection to fal broke while submitting to {endpoint_id}; not resent, to avoid paying twice"
                ) from exc
            else:
                if response.status_code < 300:
                    data = response.json()
                    return Submission(endpoint_id, data["request_id"], data["status_url"], data["response_url"], data["cancel_url"])
                if not _retryable_status(response):
                    raise error_from_response(response.status_code, _body(response), dict(response.headers), f"the request to {endpoint_id}")
                log.warning("fal submit to %s answered %s; retrying", endpoint_id, response.status_code)
            if attempt + 1 < self.attempts:
                await self._pause(attempt)
        raise FalUnavailable(f"fal did not accept the job for {endpoint_id} after {self.attempts} tries; try again later")

    async def updates(self, sub: Submission) -> AsyncIterator[QueueUpdate]:
        """Status changes until COMPLETED: from the status stream, else by polling with backoff."""
        cursor = _LogCursor()
        for _ in range(self.stream_attempts):
            try:
                async for data in self._stream(sub):
                    update = cursor.update(data)
                    yield update
                    if update.done:
                        return
            except (httpx.HTTPError, SSEError, ValueError, KeyError) as exc:
                log.info("status stream for %s unavailable (%s); polling instead", sub.request_id, exc)
                break
        async for update in self._poll(sub, cursor):
            yield update
            if update.done:
                return

    async def _stream(self, sub: Submission) -> AsyncIterator[dict[str, Any]]:
        http = await self._client()
        timeout = httpx.Timeout(30.0, read=self.stream_idle)
        async with aconnect_sse(http, "GET", sub.status_url + "/stream", params={"logs": "1"}, timeout=timeout) as source:
            if source.response.status_code >= 400:
                await source.response.aread()
                raise httpx.HTTPStatusError("stream refused", request=source.response.request, response=source.response)
            async for event in source.aiter_sse():
                if event.data:
                    yield json.loads(event.data)

    async def _poll(self, sub: Submission, cursor: _LogCursor) -> AsyncIterator[QueueUpdate]:
        http = await self._client()
        handle = self._handle(http, sub)
        delay, failures = self.poll_min, 0
        while True:
            try:
                status = await handle.status(with_logs=True)
            except fal_client.FalClientHTTPError as exc:
                error = error_from_response(exc.status_code, _body(exc.response), exc.response_headers, f"request {sub.request_id}")
                if not isinstance(error, FalUnavailable):
                    raise error from exc
                failures += 1
                if failures >= self.attempts:
                    raise error from exc
            except httpx.TransportError as exc:
                failures += 1
                if failures >= self.attempts:
                    raise FalUnavailable(f"lost contact with fal while following request {sub.request_id}") from exc
            else:
                failures = 0
                update = cursor.update(_status_dict(status))
                yield update
                if update.done:
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.poll_max)

    async def status(self, sub: Submission) -> dict[str, Any]:
        """One status check, with logs."""
        http = await self._client()
        try:
            status = await self._handle(http, sub).status(with_logs=True)
        except fal_client.FalClientHTTPError as exc:
            raise error_from_response(exc.status_code, _body(exc.response), exc.response_headers, f"request {sub.request_id}") from exc
        except httpx.TransportError as exc:
            raise FalUnavailable(f"could not reach fal to check request {sub.request_id}") from exc
        return {"request_id": sub.request_id, "model": sub.endpoint_id, **_status_dict(status)}

    async def result(self, sub: Submission) -> dict[str, Any]:
        """The finished job's output. A failed job's real error comes from here, as fal documents."""
        http = await self._client()
        handle = self._handle(http, sub)
        what = f"the {sub.endpoint_id} job {sub.request_id}"
        for attempt in range(self.attempts):
            try:
                return await handle.get(interval=self.poll_min)
            except fal_client.FalClientHTTPError as exc:
                error = error_from_response(exc.status_code, _body(exc.response), exc.response_headers, what)
                if not (isinstance(error, FalUnavailable) and _retryable_status(exc.response)):
                    raise error from exc
                log.warning("fal result for %s answered %s; retrying", sub.request_id, exc.status_code)
            except httpx.TransportError as exc:
                log.warning("fal result for %s: %s; retrying", sub.request_id, exc)
            if attempt + 1 < self.attempts:
                await self._pause(attempt)
        raise FalUnavailable(f"fal did not return the result of {what} after {self.attempts} tries; it can be fetched later by its id")

    async def run(self, sub: Submission) -> dict[str, Any]:
        """Follow a submitted job to the end and return its output."""
        async for update in self.updates(sub):
            if update.done:
                break
        return await self.result(sub)

    async def cancel(self, sub: Submission) -> bool:
        """Ask fal to cancel; False when the job had already finished or is unknown."""
        http = await self._client()
        try:
            await self._handle(http, sub).cancel()
        except fal_client.FalClientHTTPError as exc:
            if exc.status_code in (400, 404, 409):
                return False
            raise error_from_response(exc.status_code, _body(exc.response), exc.response_headers, f"cancelling {sub.request_id}") from exc
        return True

    async def upload(self, data: bytes, content_type: str, file_name: str) -> str:
        """Host bytes on fal's storage; returns the public URL."""
        fal = await self._storage()
        with _storage_errors(file_name):
            return await fal.upload(data, content_type, file_name)

    async def upload_file(self, path: str | PathLike[str]) -> str:
        fal = await self._storage()
        with _storage_errors(str(path)):
            return await fal.upload_file(path)

    async def _storage(self) -> fal_client.AsyncClient:
        await self._client()
        assert self._fal is not None
        return self._fal


@contextmanager
def _storage_errors(name: str) -> Iterator[None]:
    try:
        yield
    except fal_client.FalClientHTTPError as exc:
        raise error_from_response(exc.status_code, _body(exc.response), exc.response_headers, f"uploading {name}") from exc
    except httpx.HTTPStatusError as exc:
        raise error_from_response(exc.response.status_code, _body(exc.response), dict(exc.response.headers), f"uploading {name}") from exc
    except httpx.TransportError as exc:
        raise FalUnavailable(f"could not upload {name} to fal storage: {exc}") from exc
