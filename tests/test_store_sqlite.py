"""What only the embedded store does: group commit, and upgrading databases that earlier versions wrote."""

from __future__ import annotations

import asyncio
import json

import aiosqlite

from bot.jobs.lifecycle import Status
from bot.store.base import migration_files, split_script
from bot.store.sqlite import SQLiteStore
from tests.test_store_contract import address_of, make_job

SUB = {
    "endpoint_id": "veed/fabric-1.0",
    "request_id": "req",
    "status_url": "https://q/s",
    "response_url": "https://q/r",
    "cancel_url": "https://q/c",
}


async def test_a_burst_of_writes_is_grouped_into_a_few_commits(tmp_path):
    store = await SQLiteStore.open(tmp_path / "jobs.db")
    try:
        before = store.commits
        jobs = [make_job(user=u) for u in range(200)]
        await asyncio.gather(*(store.insert(j, address_of(j)) for j in jobs))
        assert store.commits - before <= 3
        assert len(await store.unfinished()) == 200
    finally:
        await store.close()


async def test_one_bad_write_in_a_batch_fails_alone(tmp_path):
    store = await SQLiteStore.open(tmp_path / "jobs.db")
    try:
        good, twin = make_job(), make_job()
        twin.id = good.id  # the same primary key: its insert fails
        results = await asyncio.gather(store.insert(good), store.insert(twin), return_exceptions=True)
        assert results[0] is None and isinstance(results[1], RuntimeError)
        assert (await store.get(good.id)) == good
    finally:
        await store.close()


def legacy_row(job_id: str, stage: str, state: dict, **extra) -> dict:
    row = {
        "id": job_id,
        "command": "talkinghead",
        "spec": json.dumps({"command": "talkinghead", "model": "veed/fabric-1.0", "image_url": "i", "audio_url": "a"}),
        "channel_id": 11,
        "user_id": 2,
        "guild_id": 3,
        "stage": stage,
        "state": json.dumps(state),
        "created_at": 5.0,
        "interaction_token": "tok",
        "message_id": 77,
        "reach": "dm",
        "ephemeral": 1,
    }
    row.update(extra)
    return row


async def test_a_database_of_an_earlier_version_is_upgraded_and_its_jobs_carry_on(tmp_path):
    path = tmp_path / "old.db"
    rows = [
        legacy_row(
            "0000000a", "done", {"video": {"submission": SUB, "output": {"video": {"url": "u"}}}}, delivered_at=9.0
        ),
        legacy_row("0000000b", "failed", {"video": {"submission": SUB, "failed": True}}, error="boom"),
        legacy_row("0000000c", "waiting", {}),
        legacy_row("0000000d", "queued", {"hosted": True, "video": {"submission": SUB}}),
        legacy_row("0000000e", "generating", {"hosted": True, "video": {"submission": SUB, "ran": True}}),
        legacy_row("0000000f", "queued", {"hosted": True, "video": {"sending": True}}),
        legacy_row("00000010", "pending", {"hosted": True}),
        legacy_row("00000011", "uploading", {"refused": "image"}),
    ]
    for seq, row in enumerate(rows, start=1):
        row["seq"] = seq
    async with aiosqlite.connect(path) as db:
        for number, _, script in migration_files("sqlite")[:4]:  # what versions up to issue 16 created
            for statement in split_script(script):
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {number}")
        for row in rows:
            await db.execute(
                f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values())
            )
        await db.commit()
    store = await SQLiteStore.open(path)
    try:
        jobs = {j.id: j for j in [await store.get(r["id"]) for r in rows]}
        seen = {job_id: (j.status, j.outcome, j.step, j.inputs_ready) for job_id, j in jobs.items()}
        assert seen == {
            "0000000a": (Status.DONE, Status.DONE, "video", False),
            "0000000b": (Status.DELIVERING, Status.FAILED, "video", False),
            "0000000c": (Status.WAITING, None, None, False),
            "0000000d": (Status.QUEUED, None, "video", True),
            "0000000e": (Status.RUNNING, None, "video", True),
            "0000000f": (Status.SENDING, None, "video", True),
            "00000010": (Status.STARTING, None, None, True),
            "00000011": (Status.STARTING, None, None, False),
        }
        assert jobs["0000000e"].steps["video"].ran and jobs["0000000d"].steps["video"].submission.request_id == "req"
        assert jobs["00000011"].refused_input == "image" and jobs["0000000b"].error == "boom"
        assert "sending" not in json.dumps(jobs["0000000f"].steps.get("video").to_dict())
        address = await store.address("0000000d")
        assert (address.channel_id, address.message_id, address.interaction_token) == (11, 77, "tok")
        assert address.reach == "dm" and address.private
        assert [j.id for j in await store.unfinished()] == [r["id"] for r in rows[1:]]
    finally:
        await store.close()
