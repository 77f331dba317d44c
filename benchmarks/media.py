"""Prints how long the media check takes per format and how much memory a 200 MB video costs.

* inspection time: bot.media.inspect on each offered format (files written by tests/media_corpus.py),
  the median of several runs;
* memory: a fresh process downloads a 200 MB MP4 from a local server the way the bot downloads an
  attachment (bot.jobs.inputs: streamed to a temporary file, the cap enforced while reading) and
  inspects it (PyAV reads every packet); its peak resident memory (VmHWM) is printed against the
  same process's peak before the download.

    python -m benchmarks.media [--video-mb 200] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def repeat(seed: Path, out: Path, *, loops: int | None = None, max_bytes: float | None = None) -> None:
    """Remux `seed`'s packets again and again (timestamps shifted), for `loops` rounds or until `max_bytes`."""
    import av

    with av.open(str(seed)) as source:
        templates = [s for s in source.streams if s.type in ("audio", "video")]
        packets = [(p.stream.index, bytes(p), p.pts, p.dts, p.is_keyframe) for p in source.demux(templates) if p.size]
        period = source.duration / 1e6 + 0.1  # seconds per round (a little more: priming packets start below 0)
        with av.open(str(out), "w", format="mp4") as sink:
            streams = {t.index: sink.add_stream_from_template(t) for t in templates}
            bases = {t.index: t.time_base for t in templates}
            written, round_ = 0, 0
            while (loops is None or round_ < loops) and (max_bytes is None or written < max_bytes):
                for index, data, pts, dts, key in packets:
                    if max_bytes is not None and written + len(data) > max_bytes:
                        return
                    shift = int(round_ * period / bases[index])
                    packet = av.Packet(data)
                    packet.stream, packet.time_base = streams[index], bases[index]
                    packet.pts, packet.dts = pts + shift, dts + shift
                    packet.is_keyframe = key
                    sink.mux(packet)
                    written += len(data)
                round_ += 1


def build_big_video(path: Path, megabytes: float) -> None:
    """An MP4 (H.264, 1280×720) of about `megabytes` MiB: one second of noise encoded losslessly, repeated."""
    import av
    from PIL import Image

    fps = 25
    seed_path = path.with_suffix(".seed.mp4")
    with av.open(str(seed_path), "w", format="mp4") as seed:
        stream = seed.add_stream("libx264", rate=fps, options={"qp": "0", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for i in range(fps):
            frame = av.VideoFrame.from_image(Image.effect_noise((1280, 720), 80 + i).convert("RGB"))
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                seed.mux(packet)
        for packet in stream.encode(None):
            seed.mux(packet)
    repeat(seed_path, path, max_bytes=megabytes * 1024**2)
    seed_path.unlink()


CHILD = r"""
import asyncio, json, sys, tempfile
from pathlib import Path
import aiohttp
from benchmarks.media import peak_rss_mb
from bot import media
from bot.jobs import inputs

async def main(url, size):
    async with aiohttp.ClientSession() as session:
        await (await session.get(url + "?warm")).read()  # the session's own buffers, before measuring
    before = peak_rss_mb()
    source = inputs.Source("video", url, True, "big.mp4", "video/mp4", size)
    with tempfile.TemporaryDirectory() as directory:
        async with aiohttp.ClientSession() as session:
            path = await inputs._download(session, source, Path(directory))
        downloaded = peak_rss_mb()
        info = await inputs.check_file(source, path)
    print(json.dumps({"before_mb": before, "after_download_mb": downloaded, "peak_mb": peak_rss_mb(),
                      "seconds": info.seconds, "content_type": info.content_type}))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def measure_download_and_inspect(path: Path) -> dict:
    """Serve `path` on 127.0.0.1 and run the bot's download + inspect of it in a fresh process."""
    from aiohttp import web

    async def serve(request: web.Request) -> web.StreamResponse:
        if "warm" in request.query:
            return web.Response(body=b"ok")
        return web.FileResponse(path)

    app = web.Application()
    app.router.add_get("/big.mp4", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            f"http://127.0.0.1:{port}/big.mp4",
            str(path.stat().st_size),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 300)
    finally:
        await runner.cleanup()
    if proc.returncode != 0:
        raise RuntimeError(err.decode()[-2000:])
    return json.loads(out)


def inspection_times(runs: int) -> list[tuple[str, str, float, float | None]]:
    from bot import media
    from tests import media_corpus

    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for sample in media_corpus.ACCEPTED_SAMPLES:
            path = media_corpus.make(Path(directory), sample)
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                info = media.inspect(path, sample.kind)
                times.append(time.perf_counter() - start)
            rows.append((sample.name, info.content_type, statistics.median(times) * 1000, info.seconds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video-mb", type=float, default=199, help="size of the big video in MiB (the cap is 200)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    print(f"Inspection time per file (median of {args.runs} runs):")
    for name, content_type, ms, seconds in inspection_times(args.runs):
        length = "image" if seconds is None else f"{seconds:6.1f} s"
        print(f"  {name:20} {content_type:16} {length:>8}  {ms:7.1f} ms")

    from bot import media
    from tests import media_corpus

    with tempfile.TemporaryDirectory() as directory:
        seed = media_corpus.make(
            Path(directory), next(s for s in media_corpus.ACCEPTED_SAMPLES if s.name == "h264-aac.mp4")
        )
        long = Path(directory) / "long.mp4"
        repeat(seed, long, loops=100)
        start = time.perf_counter()
        info = media.inspect(long, media.VIDEO)
        print(
            f"\nA {info.seconds / 60:.0f}-minute MP4 (H.264 + AAC, {long.stat().st_size / 1024**2:.0f} MB): "
            f"inspected in {(time.perf_counter() - start) * 1000:.0f} ms"
        )

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "big.mp4"
        start = time.perf_counter()
        build_big_video(path, args.video_mb)
        print(f"Built a {path.stat().st_size / 1024**2:.0f} MB MP4 in {time.perf_counter() - start:.0f} s")
        start = time.perf_counter()
        figures = asyncio.run(measure_download_and_inspect(path))
        elapsed = time.perf_counter() - start
    print(
        f"Download + inspect of it: {elapsed:.1f} s; the file plays {figures['seconds']:.1f} s ({figures['content_type']})"
    )
    print(
        f"Peak resident memory: {figures['before_mb']:.0f} MB before, {figures['after_download_mb']:.0f} MB after the "
        f"download, {figures['peak_mb']:.0f} MB after the inspection "
        f"(+{figures['peak_mb'] - figures['before_mb']:.0f} MB for a {args.video_mb:.0f} MB file)"
    )


if __name__ == "__main__":
    main()
