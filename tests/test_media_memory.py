"""Memory stays bounded when the bot takes a 200 MB video: the download streams to a file, PyAV reads it.

A fresh process downloads the file from 127.0.0.1 exactly as the bot downloads an attachment and
inspects it; its peak resident memory must not grow with the file (before the change it held the file
twice: 400 MB for 200 MB). The figures themselves are printed by `python -m benchmarks.media`.
"""

from __future__ import annotations

from benchmarks.media import build_big_video, measure_download_and_inspect

MB = 1024**2


async def test_a_200_mb_video_is_downloaded_and_inspected_in_bounded_memory(tmp_path):
    path = tmp_path / "big.mp4"
    build_big_video(path, 199)
    assert path.stat().st_size > 190 * MB
    figures = await measure_download_and_inspect(path)
    print(figures)
    assert figures["content_type"] == "video/mp4" and figures["seconds"] > 5
    assert figures["after_download_mb"] - figures["before_mb"] < 16  # the download: one chunk at a time
    assert figures["peak_mb"] - figures["before_mb"] < 64  # the inspection: a few packets and frames, not the file
