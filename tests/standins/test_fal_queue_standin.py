"""The fal queue stand-in, driven by the real fal_client (and by httpx_sse for the status stream)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import json
import ssl
from pathlib import Path

import av
import fal_client
import fal_client.client
import httpx
import pytest
import pytest_asyncio
from fal_client import Completed, FalClientHTTPError, InProgress, Queued
from httpx_sse import aconnect_sse

from tests.standins import fal_scale
from tests.standins.fal_queue import FalStandIn, JobScript, media_bytes, media_size

pytestmark = pytest.mark.asyncio

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

KEY = "test-fal-key"
LIPSYNC = "fal-ai/sync-lipsync/v2"
LIPSYNC_ARGS = {"video_url": "https://example.com/face.mp4", "audio_url": "https://example.com/voice.mp3"}
FABRIC = "veed/fabric-1.0"
FABRIC_ARGS = {
    "image_url": "https://example.com/face.png",
    "audio_url": "https://example.com/voice.mp3",
    "resolution": "480p",
}
QUICK = JobScript(queue_positions=[1, 0], queue_step=0.1, run_time=0.2, logs=["Loading model", "Generating"])
SLOW = JobScript(queue_positions=[3], queue_step=30, run_time=30)


@pytest_asyncio.fixture
async def standin():
    server = FalStandIn(key=KEY, keepalive=0.2)
    await server.start()
    yield server
    await server.close()


@pytest_asyncio.fixture
async def fal(standin, monkeypatch):
    """A real fal_client.AsyncClient pointed at the stand-in."""
    monkeypatch.setenv("SSL_CERT_FILE", standin.ca_path)
    monkeypatch.setenv("FAL_KEY", KEY)
    monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f"https://{standin.host}/")
    monkeypatch.setattr(fal_client.client, "REST_URL", standin.base_url)
    monkeypatch.setattr(fal_client.client, "CDN_URL", standin.base_url)
    client = fal_client.AsyncClient(key=KEY)
    yield client
    await (await client._client).aclose()  # fal_client has no public close


def https(standin: FalStandIn, **kwargs) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=ssl.create_default_context(cafile=standin.ca_path), **kwargs)


async def poll_until_done(handle) -> list:
    seen = []
    while not seen or not isinstance(seen[-1], Completed):
        seen.append(await handle.status(with_logs=True))
        await asyncio.sleep(0.03)
    return seen


async def test_submit_poll_and_fetch_result(standin, fal):
    # each place lasts long enough for a poll to see it on a loaded machine
    standin.script(LIPSYNC, dataclasses.replace(QUICK, queue_step=0.5))
    handle = await fal.submit(LIPSYNC, LIPSYNC_ARGS)

    # fal drops the endpoint's subpath from the queue URLs.
    assert handle.status_url == f"{standin.base_url}/fal-ai/sync-lipsync/requests/{handle.request_id}/status"
    seen = await poll_until_done(handle)
    positions = [s.position for s in seen if isinstance(s, Queued)]
    assert positions[0] == 1 and positions[-1] == 0
    assert any(isinstance(s, InProgress) for s in seen)
    done = seen[-1]
    assert done.error is None and done.metrics["inference_time"] == pytest.approx(0.2)
    assert [log["message"] for log in done.logs] == ["Loading model", "Generating"]
    assert {"level": "INFO", "source": "USER"}.items() <= done.logs[0].items()

    result = await handle.get()
    video = result["video"]
    assert video["content_type"] == "video/mp4" and video["file_name"] == "output.mp4"
    async with https(standin) as http:
        download = await http.get(video["url"])
    assert download.headers["content-type"] == "video/mp4" and len(download.content) == video["file_size"]
    assert download.content == (FIXTURES / "clip.mp4").read_bytes()  # a real, playable clip

    job = standin.jobs[handle.request_id]
    assert job.endpoint_id == LIPSYNC and job.payload == LIPSYNC_ARGS and job.state == "COMPLETED"
    assert standin.requests[0].headers["Authorization"] == f"Key {KEY}"
    assert standin.count("result", handle.request_id) == 1
    assert standin.violations == []


async def test_tts_output_is_synthesised_from_its_schema(standin, fal):
    standin.script_next(JobScript(queue_positions=[], run_time=0.05, logs=[]))
    handle = await fal.submit("fal-ai/minimax/speech-2.6-turbo", {"prompt": "Hello there", "output_format": "url"})
    result = await handle.get()
    assert result["audio"]["content_type"] == "audio/mpeg" and result["duration_ms"] == 5200
    async with https(standin) as http:
        download = await http.get(result["audio"]["url"])
    assert download.content == (FIXTURES / "speech.mp3").read_bytes() == media_bytes("mp3")
    assert result["audio"]["file_size"] == len(download.content)
    assert standin.violations == []


async def test_upload_uses_cdn_token(standin, fal):
    url = await fal.upload(b"\x89PNG fake", "image/png", "a.png")

    assert url.startswith(f"{standin.base_url}/files/") and url.endswith("/a.png")
    assert standin.uploads[url] == b"\x89PNG fake"
    token = standin.requests[0]
    upload = standin.requests[1]
    assert (token.route, token.query, token.json) == ("token", {"storage_type": "fal-cdn-v3"}, {})
    assert upload.route == "upload" and upload.headers["Authorization"].startswith("Bearer ")
    assert upload.headers["X-Fal-File-Name"] == "a.png"
    async with https(standin) as http:
        served = await http.get(url)
    assert served.content == b"\x89PNG fake" and served.headers["content-type"] == "image/png"
    assert standin.violations == []


async def test_failed_cdn_upload_falls_back_to_storage_initiate(standin, fal):
    standin.fail_next("upload", 500)
    url = await fal.upload(b"RIFF fake wav", "audio/wav", "voice.wav")

    assert standin.count("upload") == 1 and standin.count("upload_initiate") == 1
    assert standin.count("upload_put") == 1 and standin.uploads[url] == b"RIFF fake wav"
    assert standin.violations == []


async def test_invalid_payload_is_rejected_with_422(standin, fal):
    bad = {**FABRIC_ARGS, "image_url": "data:image/png;base64," + "A" * 3000}
    del bad["resolution"]
    with pytest.raises(FalClientHTTPError) as caught:
        await fal.submit(FABRIC, bad)

    assert caught.value.status_code == 422
    locs = [d["loc"] for d in caught.value.response.json()["detail"]]
    assert ["body", "resolution"] in locs and ["body", "image_url"] in locs
    assert all(d["type"] == "value_error" for d in caught.value.response.json()["detail"])
    assert len(standin.violations) == 2 and standin.jobs == {}


async def test_unknown_endpoint_and_bad_key_are_violations(standin, fal):
    with pytest.raises(FalClientHTTPError) as unknown:
        await fal.submit("fal-ai/veed/fabric-1.0", FABRIC_ARGS)
    assert unknown.value.status_code == 404

    wrong = fal_client.AsyncClient(key="not-the-key")
    with pytest.raises(FalClientHTTPError) as denied:
        await wrong.submit(FABRIC, FABRIC_ARGS)
    await (await wrong._client).aclose()
    assert denied.value.status_code == 401 and "No user found" in str(denied.value)
    assert len(standin.violations) == 2


async def test_failed_job_completes_with_error_and_result_returns_it(standin, fal):
    detail = [{"loc": ["body", "audio_url"], "msg": "Audio duration exceeds 60s", "type": "audio_duration_too_long"}]
    standin.script_next(
        JobScript(queue_positions=[0], queue_step=0.05, run_time=0.1, error={"status": 422, "detail": detail})
    )
    handle = await fal.submit(FABRIC, FABRIC_ARGS)
    done = (await poll_until_done(handle))[-1]
    assert done.error and done.error_type == "audio_duration_too_long"

    with pytest.raises(FalClientHTTPError) as caught:
        await handle.get()
    assert caught.value.status_code == 422 and caught.value.response.json() == {"detail": detail}
    assert standin.violations == []


async def test_cancel_a_queued_job(standin, fal):
    standin.script(FABRIC, SLOW)
    handle = await fal.submit(FABRIC, FABRIC_ARGS)
    assert await handle.status() == Queued(position=3)

    await handle.cancel()
    status = await handle.status()
    assert isinstance(status, Completed) and status.error_type == "client_cancelled"
    assert standin.jobs[handle.request_id].cancelled
    with pytest.raises(FalClientHTTPError) as result:
        await handle.get()
    assert result.value.status_code == 400 and result.value.error_type == "client_cancelled"
    with pytest.raises(FalClientHTTPError) as again:
        await handle.cancel()
    assert again.value.status_code == 400 and again.value.response.json() == {"status": "ALREADY_COMPLETED"}
    assert standin.violations == []


async def test_injected_faults(standin, fal):
    standin.script(LIPSYNC, QUICK)
    standin.drop_next("submit")  # fal_client retries transport errors
    handle = await fal.submit(LIPSYNC, LIPSYNC_ARGS)
    assert standin.count("submit") == 2 and len(standin.jobs) == 1

    standin.fail_next("status", 503)  # a fal 503 carries no "nginx": fal_client does not retry it
    with pytest.raises(FalClientHTTPError) as caught:
        await handle.status()
    assert caught.value.status_code == 503 and caught.value.error_type == "runner_scheduling_failure"

    standin.jobs[handle.request_id].pending_failures.append(504)
    await poll_until_done(handle)
    with pytest.raises(FalClientHTTPError) as timeout:
        await handle.get()
    assert timeout.value.status_code == 504
    assert (await handle.get())["video"]["url"]
    assert standin.violations == []


async def test_status_stream_over_sse(standin):
    standin.script(LIPSYNC, QUICK)
    async with https(standin, headers={"Authorization": f"Key {KEY}"}) as http:
        submitted = (await http.post(f"{standin.base_url}/{LIPSYNC}", json=LIPSYNC_ARGS)).json()
        async with aconnect_sse(http, "GET", submitted["status_url"] + "/stream", params={"logs": 1}) as source:
            events = [json.loads(event.data) async for event in source.aiter_sse()]

    statuses = [e["status"] for e in events]
    assert statuses[0] == "IN_QUEUE" and statuses[-1] == "COMPLETED"
    assert [e["queue_position"] for e in events if e["status"] == "IN_QUEUE"] == [1, 0]
    assert [len(e["logs"]) for e in events if e["status"] == "IN_PROGRESS"] == [1, 2]
    assert events[-1]["metrics"]["inference_time"] > 0
    assert standin.violations == []


async def test_status_stream_sends_keepalive_comments(standin):
    standin.script(LIPSYNC, JobScript(queue_positions=[], run_time=0.5, logs=[]))
    async with https(standin, headers={"Authorization": f"Key {KEY}"}) as http:
        submitted = (await http.post(f"{standin.base_url}/{LIPSYNC}", json=LIPSYNC_ARGS)).json()
        async with http.stream("GET", submitted["status_url"] + "/stream") as response:
            lines = [line async for line in response.aiter_lines() if line]

    assert ": ping" in lines and lines[-1].startswith("data: ") and '"COMPLETED"' in lines[-1]


async def wait_until(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_connections_are_counted_at_the_server(standin, fal):
    standin.script(LIPSYNC, QUICK)
    handle = await fal.submit(LIPSYNC, LIPSYNC_ARGS)
    await poll_until_done(handle)
    await handle.get()

    # fal_client keeps one keep-alive connection for the whole job.
    assert standin.open_connections == standin.peak_connections == 1
    (conn,) = standin.connections
    assert conn.closed is None and conn.routes["submit"] == 1 and conn.routes["result"] == 1
    assert conn.routes["status"] == standin.count("status") >= 2
    assert {r.connection for r in standin.requests} == {conn.id}

    standin.hold("status")
    async with https(standin, headers={"Authorization": f"Key {KEY}"}) as http:
        polls = [asyncio.create_task(http.get(handle.status_url)) for _ in range(5)]
        await wait_until(lambda: len(standin.held) == 5)
        assert standin.open_connections == standin.peak_connections == 6
        standin.release("status", drop=False)
        assert all(p.status_code == 200 for p in await asyncio.gather(*polls))
    await wait_until(lambda: standin.open_connections == 1)
    assert standin.peak_connections == 6 and len(standin.connections) == 6
    assert all(c.closed is not None and dict(c.routes) == {"status": 1} for c in standin.connections[1:])

    standin.reset_peak()
    assert standin.peak_connections == 1
    assert standin.violations == []


async def test_counts_by_request_id(standin, fal):
    standin.script(LIPSYNC, QUICK)
    first = await fal.submit(LIPSYNC, LIPSYNC_ARGS)
    second = await fal.submit(LIPSYNC, LIPSYNC_ARGS)
    await first.status()
    await poll_until_done(second)
    await second.get()

    counts = standin.counts_by_request()
    assert set(counts) == {first.request_id, second.request_id}
    assert counts[first.request_id] == {"submit": 1, "status": 1}
    assert counts[second.request_id]["result"] == 1 and counts[second.request_id]["submit"] == 1
    assert standin.count("status", second.request_id) == counts[second.request_id]["status"]
    assert standin.count("submit") == 2 and standin.count("status") == 1 + counts[second.request_id]["status"]
    assert standin.count("cancel", "no-such-id") == 0


async def test_flaky_answers_a_share_of_requests_with_faults_until_steady(standin, fal):
    standin.script(LIPSYNC, QUICK)
    handle = await fal.submit(LIPSYNC, LIPSYNC_ARGS)
    standin.flaky(routes=("status",), rate=0.2, kinds=("503",), seed=7)
    async with https(standin, headers={"Authorization": f"Key {KEY}"}) as http:
        answers = [await http.get(handle.status_url) for _ in range(200)]
        failed = [a for a in answers if a.status_code == 503]
        assert 20 <= len(failed) <= 65
        assert failed[0].json() == {"detail": "Service Unavailable", "error_type": "runner_scheduling_failure"}
        assert failed[0].headers["x-fal-error-type"] == "runner_scheduling_failure"
        assert len([r for r in standin.requests if r.fault == "503"]) == len(failed)
        assert (await http.get(handle.response_url)).status_code in (200, 400)  # result is not flaky here

        standin.steady()
        assert {(await http.get(handle.status_url)).status_code for _ in range(50)} <= {200, 202}
    assert standin.violations == []  # injected faults are not the client's mistakes


async def test_flaky_drops_and_fal_client_retries_them(standin, fal):
    standin.script(LIPSYNC, QUICK)
    handle = await fal.submit(LIPSYNC, LIPSYNC_ARGS)
    standin.flaky(routes=("status", "result"), rate=0.3, kinds=("drop", "502:nginx"), seed=3)
    await poll_until_done(handle)
    assert (await handle.get())["video"]["url"]
    faults = {r.fault for r in standin.requests if r.fault}
    assert faults == {"drop", "502:nginx"}
    with pytest.raises(ValueError):
        standin.flaky(kinds=("418:nginx",))
    assert standin.violations == []


async def test_outage_fails_every_request_for_a_while(standin, fal):
    standin.script(LIPSYNC, QUICK)
    handle = await fal.submit(LIPSYNC, LIPSYNC_ARGS)
    standin.outage(routes=("status", "result"), seconds=0.5, kind="503")
    with pytest.raises(FalClientHTTPError) as caught:
        await handle.status()
    assert caught.value.status_code == 503
    second = await fal.submit(LIPSYNC, LIPSYNC_ARGS)  # submit is not in this outage
    await asyncio.sleep(0.5)
    assert isinstance(await second.status(), (Queued, InProgress, Completed))

    standin.outage(routes=("status",), seconds=30, kind="drop")
    async with https(standin, headers={"Authorization": f"Key {KEY}"}) as http:
        with pytest.raises(httpx.TransportError):
            await http.get(handle.status_url)
    standin.steady()
    assert isinstance(await handle.status(), (Queued, InProgress, Completed))
    assert standin.violations == []


async def test_refuse_outage_fails_new_connections_at_connect(standin, fal):
    standin.script(LIPSYNC, QUICK)
    handle = await fal.submit(LIPSYNC, LIPSYNC_ARGS)  # fal_client now holds one open connection
    standin.outage(seconds=0.6, kind="refuse")
    assert standin.refusing
    async with https(standin) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{standin.base_url}/files/anything")

    # fal_client's open connection is dropped, its reconnects are refused; it retries until fal is back.
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert isinstance(await handle.status(), (Queued, InProgress, Completed))
    assert loop.time() - started >= 0.4 and not standin.refusing
    assert standin.requests[-2].fault == "drop" and standin.open_connections == 1
    assert standin.violations == []


async def test_steady_ends_a_refuse_outage_early(standin):
    standin.outage(seconds=60, kind="refuse")
    standin.steady()
    await wait_until(lambda: not standin.refusing)
    async with https(standin) as http:
        assert (await http.get(f"{standin.base_url}/files/nothing-here")).status_code == 404


async def test_result_failures_as_fal_gateway_text_and_as_nginx_ingress_pages(standin, fal):
    standin.script_next(JobScript(queue_positions=[], run_time=0.05, logs=[], result_failures=["504:text"]))
    handle = await fal.submit(LIPSYNC, LIPSYNC_ARGS)
    with pytest.raises(FalClientHTTPError) as caught:
        await handle.get()
    response = caught.value.response
    assert caught.value.status_code == 504 and standin.count("result", handle.request_id) == 1  # not retried
    assert response.headers["content-type"].startswith("text/plain") and "nginx" not in response.text
    assert response.headers["x-fal-request-id"] == handle.request_id
    assert not fal_client.client._is_ingress_error(response)
    assert (await handle.get())["video"]["url"]

    standin.script_next(
        JobScript(queue_positions=[], run_time=0.05, logs=[], result_failures=["502:nginx", "503:nginx", "504:nginx"])
    )
    handle = await fal.submit(LIPSYNC, LIPSYNC_ARGS)
    assert (await handle.get())["video"]["url"]  # fal_client retried all three
    assert standin.count("result", handle.request_id) == 4
    assert [r.fault for r in standin.requests if r.route == "result" and r.request_id == handle.request_id] == [
        "502:nginx",
        "503:nginx",
        "504:nginx",
        None,
    ]

    standin.fail_next("status", "503:nginx")
    async with https(standin, headers={"Authorization": f"Key {KEY}"}) as http:
        page = await http.get(handle.status_url)
    assert page.status_code == 503 and "x-fal-request-id" not in page.headers
    assert page.headers["content-type"].startswith("text/html") and fal_client.client._is_ingress_error(page)

    with pytest.raises(ValueError):
        JobScript(result_failures=["500:nginx"])
    assert standin.violations == []


async def submit_plain(
    http: httpx.AsyncClient, standin: FalStandIn, endpoint: str = LIPSYNC, args: dict = LIPSYNC_ARGS
) -> dict:
    response = await http.post(f"{standin.base_url}/{endpoint}", json=args)
    assert response.status_code == 200, response.text
    return response.json()


async def test_stalled_stream_goes_silent_while_the_job_completes(standin):
    standin.script(LIPSYNC, JobScript(queue_positions=[1, 0], queue_step=0.1, run_time=0.3))
    standin.stall_stream(times=1, after_events=1)
    async with https(standin, headers={"Authorization": f"Key {KEY}"}) as http:
        submitted = await submit_plain(http, standin)
        lines = []
        with pytest.raises(httpx.ReadTimeout):  # keep-alive comments would come every 0.2 s here
            async with http.stream(
                "GET", submitted["status_url"] + "/stream", timeout=httpx.Timeout(5, read=1.0)
            ) as response:
                async for line in response.aiter_lines():
                    lines.append(line)
        assert [line for line in lines if line] == [lines[0]] and '"IN_QUEUE"' in lines[0]
        assert standin.jobs[submitted["request_id"]].state == "COMPLETED"  # it went on meanwhile

        async with aconnect_sse(http, "GET", submitted["status_url"] + "/stream") as source:
            events = [json.loads(event.data) async for event in source.aiter_sse()]
        assert [e["status"] for e in events] == ["COMPLETED"]
    await wait_until(lambda: standin.open_connections == 0)  # the stalled handler ended with its connection
    assert [r.fault for r in standin.requests if r.route == "stream"] == ["stall", None]
    assert standin.violations == []


async def test_stalled_stream_after_zero_events_and_with_fal_client_polling_on(standin, fal):
    standin.script(LIPSYNC, QUICK)
    standin.stall_stream(times=2, after_events=0)
    handle = await fal.submit(LIPSYNC, LIPSYNC_ARGS)
    async with https(standin, headers={"Authorization": f"Key {KEY}"}) as http:
        for _ in range(2):
            with pytest.raises(httpx.ReadTimeout):
                async with http.stream(
                    "GET", handle.status_url + "/stream", timeout=httpx.Timeout(5, read=0.5)
                ) as response:
                    assert response.status_code == 200
                    async for _line in response.aiter_lines():
                        pytest.fail("a stalled stream sent something")
    assert isinstance((await poll_until_done(handle))[-1], Completed)
    assert standin.violations == []


async def test_drop_after_submit_records_the_job_but_loses_the_answer(standin, fal):
    standin.script(LIPSYNC, QUICK)
    standin.drop_after_submit()
    async with https(standin, headers={"Authorization": f"Key {KEY}"}) as http:
        with pytest.raises(httpx.TransportError):
            await http.post(f"{standin.base_url}/{LIPSYNC}", json=LIPSYNC_ARGS)
    (lost,) = standin.jobs.values()
    assert standin.count("submit", lost.request_id) == 1

    standin.drop_after_submit()
    handle = await fal.submit(LIPSYNC, LIPSYNC_ARGS)  # fal_client retries: fal now runs the job twice
    assert len(standin.jobs) == 3 and handle.request_id in standin.jobs
    assert [r.fault for r in standin.requests if r.route == "submit"] == ["drop_after_submit"] * 2 + [None]
    await poll_until_done(handle)
    assert all(job.state == "COMPLETED" and not job.cancelled for job in standin.jobs.values())
    assert standin.violations == []


async def test_cancel_answers_as_fal_documents(standin, fal):
    standin.script(FABRIC, SLOW)
    queued = await fal.submit(FABRIC, FABRIC_ARGS)
    standin.script(FABRIC, JobScript(queue_positions=[], run_time=30, logs=[]))
    running = await fal.submit(FABRIC, FABRIC_ARGS)
    async with https(standin, headers={"Authorization": f"Key {KEY}"}) as http:
        answer = await http.put(queued.cancel_url)
        assert (answer.status_code, answer.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
        answer = await http.put(running.cancel_url)
        assert (answer.status_code, answer.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
        again = await http.put(running.cancel_url)
        assert (again.status_code, again.json()) == (400, {"status": "ALREADY_COMPLETED"})
        unknown = await http.put(f"{standin.base_url}/veed/fabric-1.0/requests/no-such-request/cancel")
        assert (unknown.status_code, unknown.json()) == (404, {"status": "NOT_FOUND"})

    for handle in (queued, running):
        status = await handle.status()
        assert isinstance(status, Completed) and status.error_type == "client_cancelled"
        with pytest.raises(FalClientHTTPError) as result:
            await handle.get()
        assert result.value.status_code == 400 and result.value.error_type == "client_cancelled"
    assert standin.jobs[queued.request_id].cancel_asked == ["IN_QUEUE"]
    assert standin.jobs[running.request_id].cancel_asked == ["IN_PROGRESS", "COMPLETED"]
    assert standin.jobs[running.request_id].cancel_phase == "IN_PROGRESS"
    assert standin.jobs[running.request_id].cancelled
    assert standin.violations == []


async def test_a_running_model_may_ignore_cancel_and_complete(standin, fal):
    standin.script(LIPSYNC, JobScript(queue_positions=[0], queue_step=0.1, run_time=0.5, ignores_cancel=True))
    queued = await fal.submit(LIPSYNC, LIPSYNC_ARGS)
    await queued.cancel()  # a queued job is removed whatever the model would do
    assert standin.jobs[queued.request_id].cancelled

    handle = await fal.submit(LIPSYNC, LIPSYNC_ARGS)
    async with https(standin, headers={"Authorization": f"Key {KEY}"}) as http:
        async with aconnect_sse(http, "GET", handle.status_url + "/stream") as source:
            events = []
            async for event in source.aiter_sse():
                events.append(json.loads(event.data))
                if events[-1]["status"] == "IN_PROGRESS" and len(events) == 2:
                    await handle.cancel()  # 202, and the model runs on
    assert [e["status"] for e in events] == ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
    assert "error" not in events[-1] and (await handle.get())["video"]["url"]
    job = standin.jobs[handle.request_id]
    assert job.cancel_asked == ["IN_PROGRESS"] and not job.cancelled
    assert standin.jobs[queued.request_id].cancel_phase == "IN_QUEUE"
    assert standin.violations == []


async def scripted_result(standin, fal, **options) -> dict:
    standin.script_next(JobScript(queue_positions=[], run_time=0.02, logs=[], **options))
    return await (await fal.submit(LIPSYNC, LIPSYNC_ARGS)).get()


def _seconds(mp4: bytes) -> float:
    with av.open(io.BytesIO(mp4)) as container:
        return container.duration / av.time_base


async def test_output_padded_to_a_size_stays_a_valid_mp4(standin, fal):
    size = 20 * 1024 * 1024 + 3
    video = (await scripted_result(standin, fal, output_size=size))["video"]
    assert video["file_size"] == size == media_size("mp4", size)
    digest, received = hashlib.sha256(), 0
    async with https(standin) as http:
        head = await http.head(video["url"])
        assert head.status_code == 200 and head.headers["content-length"] == str(size)
        async with http.stream("GET", video["url"]) as response:
            assert response.headers["content-length"] == str(size)
            async for chunk in response.aiter_bytes():
                digest.update(chunk)
                received += len(chunk)
    padded = media_bytes("mp4", size)
    assert received == size and digest.digest() == hashlib.sha256(padded).digest()
    clip = (FIXTURES / "clip.mp4").read_bytes()
    assert padded.startswith(clip) and padded[len(clip) + 4 : len(clip) + 8] == b"free"
    assert _seconds(padded) == pytest.approx(_seconds(clip))
    with pytest.raises(ValueError):
        JobScript(output_size=len(clip) + 3)  # no box fits in 3 bytes
    with pytest.raises(ValueError):
        JobScript(output_size=100)
    assert standin.violations == []


async def test_output_file_faults(standin, fal):
    missing = (await scripted_result(standin, fal, output_status=404))["video"]
    html = (await scripted_result(standin, fal, output_html=True))["video"]
    cut = (await scripted_result(standin, fal, output_truncated=True, output_size=3_000_000))["video"]
    async with https(standin) as http:
        answer = await http.get(missing["url"])
        assert answer.status_code == 404
        answer = await http.get(html["url"])
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
        assert answer.text.lstrip().lower().startswith("<!doctype html")
        received = 0
        with pytest.raises(httpx.RemoteProtocolError):
            async with http.stream("GET", cut["url"]) as response:
                assert response.headers["content-length"] == "3000000"
                async for chunk in response.aiter_bytes():
                    received += len(chunk)
        assert 0 < received < 3_000_000
    assert cut["file_size"] == 3_000_000
    assert standin.violations == []


async def test_result_without_its_video_only_when_scripted(standin, fal):
    result = await scripted_result(standin, fal, output_without_video=True)
    assert "video" not in result
    (job,) = standin.jobs.values()
    assert not standin.contracts[LIPSYNC].output_validator.is_valid(job.output)
    assert standin.violations == []


def big_file(path: Path, megabytes: int) -> Path:
    """A file whose every MiB differs (random, stamped with its index), so misplaced parts show."""
    block = bytearray(hashlib.sha256(b"seed").digest() * (1 << 15))
    with open(path, "wb") as out:
        for i in range(megabytes):
            block[:8] = i.to_bytes(8, "big")
            out.write(block)
    return path


def same_bytes(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


async def test_multipart_upload_of_a_150_mb_file(standin, fal, tmp_path):
    source = big_file(tmp_path / "talk.mp4", 150)
    standin.drop_next("upload_complete")  # fal_client retries complete; the stand-in answers it again
    url = await fal.upload_file(source)

    assert standin.count("upload_multipart") == 1 and standin.count("upload") == 0
    assert standin.count("upload_part") == 15 and standin.count("upload_complete") == 2
    stored = standin.uploads.path(url)
    assert stored is not None and standin.uploads.size(url) == 150 << 20 and same_bytes(stored, source)
    create = next(r for r in standin.requests if r.route == "upload_multipart")
    assert create.headers["X-Fal-File-Name"] == "talk.mp4" and create.headers["Content-Type"] == "video/mp4"
    assert all(r.headers["Authorization"].startswith("Bearer ") for r in standin.requests if r.route != "token")
    assert sum(len(r.raw) for r in standin.requests) < 1 << 20  # parts went to disk, not into the records

    async with https(standin) as http:
        async with http.stream("GET", url) as served:
            assert served.headers["content-type"] == "video/mp4"
            digest = hashlib.sha256()
            async for chunk in served.aiter_bytes():
                digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(source.read_bytes()).hexdigest()
    assert standin.violations == []


async def test_multipart_complete_checks_the_etags(standin, fal):
    async with https(standin) as http:
        token = (
            await http.post(
                f"{standin.base_url}/storage/auth/token",
                params={"storage_type": "fal-cdn-v3"},
                json={},
                headers={"Authorization": f"Key {KEY}"},
            )
        ).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        created = (
            await http.post(
                f"{standin.base_url}/files/upload/multipart",
                headers={**auth, "Content-Type": "audio/wav", "X-Fal-File-Name": "v.wav"},
            )
        ).json()
        base = f"{created['access_url']}/multipart/{created['uploadId']}"
        etags = [
            (await http.put(f"{base}/{n}", content=bytes([n]) * 100, headers=auth)).headers["etag"] for n in (1, 2)
        ]
        bad = await http.post(
            f"{base}/complete",
            headers=auth,
            json={"parts": [{"partNumber": 1, "etag": etags[1]}, {"partNumber": 2, "etag": etags[1]}]},
        )
        assert bad.status_code == 400 and len(standin.violations) == 1
        good = await http.post(
            f"{base}/complete",
            headers=auth,
            json={"parts": [{"partNumber": 2, "etag": etags[1]}, {"partNumber": 1, "etag": etags[0]}]},
        )
        assert good.status_code == 200 and good.json() == {"access_url": created["access_url"]}
    assert standin.uploads[created["access_url"]] == b"\x01" * 100 + b"\x02" * 100
    assert "etag" in standin.violations[0]


async def test_a_thousand_jobs_over_a_thousand_streams():
    """1,000 submits at once, then 1,000 concurrent status streams to COMPLETED, the stand-in in its own process.

    Prints the figures (pytest -s); ``python -m tests.standins.fal_scale`` prints them alone.
    """
    figures = await fal_scale.measure(jobs=1000, run_time=4.5)
    print("\n" + figures.report())
    assert figures.violations == [] and figures.completed == 1000 and figures.requests == 2000
    assert figures.peak_connections >= 1000  # every stream held its own connection, all at once
    assert figures.events > 2000  # streams were open while the jobs ran, not only after they ended
    assert figures.submit_wall < 30 and figures.completion_lag["p95"] < 3.0
    busy = (figures.server_cpu_submits + figures.server_cpu_streams) / (figures.submit_wall + figures.streams_wall)
    assert busy < 0.8, f"the stand-in used {busy:.0%} of a core"
