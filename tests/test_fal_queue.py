"""bot.fal.queue through the real fal_client against the fal stand-in over TLS."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bot.fal.errors import FalUnavailable, InputRejected, JobCancelled, JobFailed, SubmissionUnknown
from bot.fal.queue import COMPLETED, IN_PROGRESS, IN_QUEUE, CancelAnswer, FalQueue, Submission
from tests.helpers import FAL_KEY
from tests.standins.fal_queue import JobScript

LIPSYNC = "fal-ai/sync-lipsync/v2"
ARGS = {"video_url": "https://cdn.example/v.mp4", "audio_url": "https://cdn.example/a.mp3"}
QUICK = JobScript(queue_positions=[2, 1], queue_step=0.15, run_time=0.3, logs=["Loading model", "Generating frames"])


async def follow(queue: FalQueue, sub: Submission) -> list:
    return [u async for u in queue.updates(sub)]


async def test_a_job_is_followed_over_the_status_stream_with_positions_and_logs(queue, fal_env):
    fal_env.script(LIPSYNC, QUICK)
    sub = await queue.submit(LIPSYNC, ARGS)
    updates = await follow(queue, sub)
    result = await queue.result(sub)

    assert [u.position for u in updates if u.state == IN_QUEUE][:2] == [2, 1]
    assert [line for u in updates for line in u.logs] == ["Loading model", "Generating frames"]
    assert updates[-1].state == COMPLETED and IN_PROGRESS in {u.state for u in updates}
    assert result["video"]["url"].endswith(".mp4")
    assert fal_env.count("stream") == 1 and fal_env.count("status") <= 1
    assert fal_env.count("submit") == 1


async def test_the_urls_fal_returned_are_the_ones_used_afterwards(queue, fal_env):
    fal_env.script(LIPSYNC, QUICK)
    sub = await queue.submit(LIPSYNC, ARGS)
    assert sub.status_url.startswith(f"{fal_env.base_url}/fal-ai/sync-lipsync/requests/")
    await queue.run(sub)
    used = {r.path for r in fal_env.requests if r.request_id == sub.request_id and r.route != "submit"}
    assert used and all(p.startswith("/fal-ai/sync-lipsync/requests/") for p in used)


async def test_a_refused_stream_falls_back_to_polling_that_backs_off(queue, fal_env):
    fal_env.script(LIPSYNC, JobScript(queue_positions=[1], queue_step=0.3, run_time=0.6, logs=["a", "b"]))
    fal_env.fail_next("stream", 503, times=2)
    sub = await queue.submit(LIPSYNC, ARGS)
    updates = await follow(queue, sub)
    assert updates[-1].done
    assert [line for u in updates for line in u.logs] == ["a", "b"]
    polls = [r.time for r in fal_env.requests if r.route == "status"]
    gaps = [b - a for a, b in zip(polls, polls[1:], strict=False)]
    assert len(gaps) >= 2 and gaps[-1] > gaps[0]  # intervals grow


async def test_a_stream_dropped_midway_still_ends_in_the_result(queue, fal_env):
    fal_env.script(LIPSYNC, QUICK)
    fal_env.drop_next("stream")
    sub = await queue.submit(LIPSYNC, ARGS)
    output = await queue.run(sub)
    assert output["video"]["url"]


async def test_a_thirty_second_job_costs_a_handful_of_status_requests(fal_env):
    """One job followed over the stream, one by polling only (the fallback), both 30 s long."""
    fal_env.script(
        LIPSYNC,
        JobScript(queue_positions=[3, 2, 1], queue_step=2.5, run_time=22.5, logs=[f"step {i}" for i in range(30)]),
    )
    streaming = FalQueue(FAL_KEY)
    polling = FalQueue(FAL_KEY, stream_attempts=0)
    try:
        subs = [await q.submit(LIPSYNC, ARGS) for q in (streaming, polling)]
        outputs = await asyncio.gather(streaming.run(subs[0]), polling.run(subs[1]))
    finally:
        await streaming.aclose()
        await polling.aclose()
    assert all(o["video"]["url"] for o in outputs)
    for sub in subs:
        calls = sum(fal_env.count(route, sub.request_id) for route in ("status", "stream", "result"))
        print(f"{sub.request_id}: {calls} requests after submit")
        assert calls <= 12
    assert fal_env.count("stream", subs[0].request_id) == 1


async def test_a_failed_job_raises_the_real_error_naming_the_field(queue, fal_env):
    detail = [{"loc": ["body", "audio_url"], "msg": "Audio duration exceeds the 60 s limit", "type": "value_error"}]
    fal_env.script(
        LIPSYNC, JobScript(queue_positions=[0], queue_step=0.05, run_time=0.1, error={"status": 422, "detail": detail})
    )
    sub = await queue.submit(LIPSYNC, ARGS)
    updates = await follow(queue, sub)
    assert updates[-1].done  # fal reports a failure as COMPLETED; the result says what went wrong
    with pytest.raises(InputRejected) as caught:
        await queue.result(sub)
    assert caught.value.field == "audio_url"
    assert "audio_url: Audio duration exceeds the 60 s limit" in str(caught.value)


async def test_a_runtime_failure_is_a_clear_job_failure(queue, fal_env):
    fal_env.script(
        LIPSYNC,
        JobScript(
            queue_positions=[0],
            queue_step=0.05,
            run_time=0.1,
            error={"status": 400, "detail": "No face detected in the video"},
        ),
    )
    sub = await queue.submit(LIPSYNC, ARGS)
    with pytest.raises(JobFailed, match="No face detected in the video"):
        await queue.run(sub)


async def test_a_504_from_the_result_after_completion_is_retried_without_resubmitting(queue, fal_env):
    fal_env.script(LIPSYNC, JobScript(queue_positions=[0], queue_step=0.05, run_time=0.1, result_failures=[504, 502]))
    sub = await queue.submit(LIPSYNC, ARGS)
    output = await queue.run(sub)
    assert output["video"]["url"]
    assert fal_env.count("submit") == 1 and fal_env.count("result") == 3
    assert fal_env.count("status") == 0  # the result is fetched directly, without one more status poll


async def test_more_jobs_than_stream_connections_all_complete_and_submits_are_never_starved(fal_env):
    """Status streams have their own small pool here; jobs beyond it are polled, and submits keep their own pool."""
    fal_env.script(LIPSYNC, JobScript(queue_positions=[1, 0], queue_step=0.4, run_time=0.8, logs=["a"]))
    q = FalQueue(FAL_KEY, stream_connections=3, request_connections=4, poll_min=0.1, poll_max=0.3)
    try:
        subs = await asyncio.gather(*(q.submit(LIPSYNC, ARGS) for _ in range(12)))
        outputs = await asyncio.gather(*(q.run(sub) for sub in subs))
        late = await q.submit(LIPSYNC, ARGS)  # after all that, a submit still goes straight through
    finally:
        await q.aclose()
    assert all(o["video"]["url"] for o in outputs) and late.request_id in fal_env.jobs
    assert fal_env.count("submit") == 13 and len(fal_env.jobs) == 13
    streamed = {r.request_id for r in fal_env.requests if r.route == "stream"}
    polled = {r.request_id for r in fal_env.requests if r.route == "status"}
    assert 0 < len(streamed) <= 12 and polled  # some over the stream, the rest by polling


async def test_a_submit_that_waited_in_vain_for_a_connection_is_sent_later_not_called_ambiguous(fal_env):
    """A pool timeout means the request never left: it is retried, not reported as a maybe-submitted job."""
    fal_env.script(LIPSYNC, JobScript(queue_positions=[0], queue_step=0.1, run_time=0.2))
    q = FalQueue(FAL_KEY, request_connections=1, backoff=0.05)
    try:
        fal_env.hold("result")
        sub = await q.submit(LIPSYNC, ARGS)
        blocker = asyncio.create_task(q.result(sub))  # holds the only request connection
        await asyncio.sleep(0.3)
        original = httpx.Timeout
        pool_timeouts = []

        def short_pool(*args, **kwargs):
            kwargs["pool"] = 0.2
            pool_timeouts.append(kwargs["pool"])
            return original(*args, **kwargs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(httpx, "Timeout", short_pool)
            submitting = asyncio.create_task(q.submit(LIPSYNC, ARGS))
            await asyncio.sleep(0.6)  # at least one pool timeout happens while the connection is held
            fal_env.release("result", drop=False)
            second = await submitting
        await blocker
    finally:
        await q.aclose()
    assert pool_timeouts and second.request_id in fal_env.jobs
    assert fal_env.count("submit") == 2


async def test_5xx_on_submit_is_retried_and_only_one_job_exists(queue, fal_env):
    fal_env.fail_next("submit", 503, times=2)
    sub = await queue.submit(LIPSYNC, ARGS)
    assert fal_env.count("submit") == 3 and list(fal_env.jobs) == [sub.request_id]


async def test_a_connection_lost_during_submit_is_never_resent(queue, fal_env):
    fal_env.drop_next("submit")
    with pytest.raises(SubmissionUnknown, match="broke while the job was being sent"):
        await queue.submit(LIPSYNC, ARGS)
    assert fal_env.count("submit") == 1


async def test_fal_down_for_good_is_reported_as_unavailable(queue, fal_env):
    fal_env.fail_next("submit", 500, times=queue.attempts)
    with pytest.raises(FalUnavailable, match="try again later"):
        await queue.submit(LIPSYNC, ARGS)


async def test_a_payload_fal_rejects_names_the_field(queue, fal_env):
    with pytest.raises(InputRejected) as caught:
        await queue.submit(LIPSYNC, {"video_url": "https://cdn.example/v.mp4"})
    assert caught.value.field == "audio_url"
    fal_env.violations.clear()  # the stand-in rightly recorded the bad payload


async def test_cancel_stops_a_queued_job_and_following_it_reports_the_cancellation(queue, fal_env):
    fal_env.script(LIPSYNC, JobScript(queue_positions=[5], queue_step=30, run_time=30))
    sub = await queue.submit(LIPSYNC, ARGS)
    assert await queue.cancel(sub) is CancelAnswer.REQUESTED
    with pytest.raises(JobCancelled):
        await queue.run(sub)
    # Asked again in this process (a Cancel button beside the job's own task), fal's answer is repeated, not
    # turned into an ALREADY_COMPLETED that would read as "finished before the cancel".
    assert await queue.cancel(sub) is CancelAnswer.REQUESTED and fal_env.count("cancel") == 1


async def test_status_is_one_request(queue, fal_env):
    fal_env.script(LIPSYNC, JobScript(queue_positions=[4], queue_step=30, run_time=30))
    sub = await queue.submit(LIPSYNC, ARGS)
    status = await queue.status(await queue.submission_for(LIPSYNC, sub.request_id))
    assert status == {"request_id": sub.request_id, "model": LIPSYNC, "status": IN_QUEUE, "queue_position": 4}
    assert fal_env.count("status") == 1
    await queue.cancel(sub)


async def test_uploads_go_to_fal_storage_and_come_back_byte_for_byte(queue, fal_env, tmp_path):
    path = tmp_path / "voice.wav"
    path.write_bytes(b"RIFF....WAVEfmt " + bytes(100))
    url = await queue.upload_file(path)
    assert fal_env.uploads[url] == path.read_bytes()
    url2 = await queue.upload(b"\x89PNG\r\n\x1a\n", "image/png", "face.png")
    assert url2 != url and url2.endswith("face.png")


async def test_a_wrong_key_is_reported_as_such(fal_env):
    q = FalQueue("wrong-key")
    try:
        with pytest.raises(Exception, match="FAL_KEY"):
            await q.submit(LIPSYNC, ARGS)
    finally:
        await q.aclose()
    fal_env.violations.clear()
