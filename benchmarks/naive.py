"""The naive baseline the benchmark compares against: N jobs followed the way fal's examples do it,
fal_client.subscribe() with its default polling and a message edit on every queue update.

It runs as its own process against the fal stand-in (FAL_QUEUE_RUN_HOST, SSL_CERT_FILE) and prints
one JSON line: how many updates (edits a naive bot would send) each job produced and how long it took.
No Discord is involved: the edits are counted, not sent.

    python -m tests.bootstrap benchmarks.naive --n 100 --tag naive-100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time

import fal_client

ENDPOINT = "veed/fabric-1.0"


async def one(client: fal_client.AsyncClient, tag: str, i: int, updates: list[int], done: list[float]) -> None:
    count = 0

    def on_update(_: fal_client.Status) -> None:
        nonlocal count
        count += 1  # a naive bot edits its message here, every time

    started = time.monotonic()
    args = {
        "image_url": f"https://cdn.example.com/{tag}-{i}.png",
        "audio_url": "https://cdn.example.com/a.mp3",
        "resolution": "480p",
    }
    await client.subscribe(ENDPOINT, args, with_logs=True, on_queue_update=on_update)
    updates.append(count)
    done.append(time.monotonic() - started)


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    client = fal_client.AsyncClient()
    updates: list[int] = []
    done: list[float] = []
    started = time.monotonic()
    tasks = [asyncio.create_task(one(client, args.tag, i, updates, done)) for i in range(args.n)]
    finished, pending = await asyncio.wait(tasks, timeout=args.timeout)
    for task in pending:
        task.cancel()
    errors = sum(1 for t in finished if t.exception() is not None)
    print(
        json.dumps(
            {
                "jobs": args.n,
                "completed": len(done),
                "errors": errors,
                "timed_out": len(pending),
                "updates_per_job": statistics.mean(updates) if updates else None,
                "wall_seconds": round(time.monotonic() - started, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
