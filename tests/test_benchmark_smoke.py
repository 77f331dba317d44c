"""A small run of the burst benchmark (benchmarks/bench.py) in the suite: the harness works and a burst
across several servers is delivered in full without a 429. Its figures are printed, not asserted."""

from __future__ import annotations

from benchmarks.bench import run_bot, run_naive, table


async def test_a_small_burst_across_servers_is_delivered_in_full(tmp_path):
    bot = await run_bot(12, 3, 3.0, spread=0.3, home=tmp_path)
    naive = await run_naive(4, 3.0, home=tmp_path)
    print("\n" + table([bot, naive]))
    assert bot.values["commands acknowledged"] == "12 of 12"
    assert bot.values["jobs delivered"] == "12 of 12"
    assert bot.values["429s from Discord"] == "0"
    assert float(bot.values["fal requests per job"].split()[0]) <= 5
    assert naive.values["jobs delivered"].startswith("4 of 4")


async def test_a_small_burst_at_a_cluster_is_delivered_in_full(tmp_path, pg_server):
    url = await pg_server.create_database("bench_smoke_cluster")
    cluster = await run_bot(12, 4, 3.0, spread=0.3, home=tmp_path, database_url=url, cluster=True)
    print("\n" + table([cluster]))
    assert cluster.values["commands acknowledged"] == "12 of 12"
    assert cluster.values["jobs delivered"] == "12 of 12"
    assert float(cluster.values["fal requests per job"].split()[0]) <= 5
