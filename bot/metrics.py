"""What each process counts, for Prometheus (/metrics, served when HEALTH_PORT is set): the prometheus-client
library's default registry, one place for every metric's name."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

COMMANDS = Counter("lipsync_commands_total", "Job commands this process took, by how they were answered", ["outcome"])
ACK_SECONDS = Histogram(
    "lipsync_ack_seconds",
    "From a command's arrival to its acknowledgement (deferred, or answered with its place or a refusal)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
)
JOBS = Gauge("lipsync_jobs", "Jobs not yet ended, by status, in the whole store (read at each scrape)", ["status"])
JOBS_ENDED = Counter("lipsync_jobs_ended_total", "Jobs whose outcome this process decided, by outcome", ["outcome"])
JOBS_CLAIMED = Gauge("lipsync_jobs_claimed", "Jobs this process works now")
FAL_REQUESTS = Counter("lipsync_fal_requests_total", "Requests this process sent to fal, by kind", ["kind"])
DELIVERIES = Counter("lipsync_deliveries_total", "Outcomes this process showed on Discord, by result", ["result"])
DISCORD_429 = Counter("lipsync_discord_rate_limited_total", "429 answers this process got from Discord")
