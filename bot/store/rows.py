"""Jobs and addresses to table rows and back, the same for every database."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from bot.jobs.lifecycle import Status
from bot.jobs.model import Address, Job, StepRecord
from bot.jobs.spec import Command, JobSpec, Source

TRANSIENT = frozenset({"position", "log", "uploading"})  # shown, not stored
JOB_COLUMNS: tuple[str, ...] = (
    "id",
    "command",
    "model",
    *(f.name for f in fields(Job) if f.name not in TRANSIENT | {"id"}),
)
ADDRESS_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Address))
_JOB_BOOLS = frozenset({"inputs_ready", "cancel_requested"})
_ADDRESS_BOOLS = frozenset({"private", "moved_to_channel"})


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def job_value(job: Job, column: str) -> Any:
    """One column of the job's row."""
    if column == "command":
        return job.command.value
    if column == "model":
        return job.spec.model
    value = getattr(job, column)
    if column == "spec":
        return _json(job.spec.to_dict())
    if column == "sources":
        return _json({name: source.to_dict() for name, source in job.sources.items()})
    if column == "steps":
        return _json({name: step.to_dict() for name, step in job.steps.items()})
    if column == "result":
        return _json(value)
    if isinstance(value, Status):
        return value.value
    if column in _JOB_BOOLS:
        return bool(value)
    return value


def job_row(job: Job) -> dict[str, Any]:
    return {column: job_value(job, column) for column in JOB_COLUMNS}


def job_from_row(row: Mapping[str, Any]) -> Job:
    spec = JobSpec.from_dict(json.loads(row["spec"]))
    if spec.command is not Command(row["command"]):
        raise ValueError(f"job {row['id']}: its spec is for {spec.command}, its row for {row['command']}")
    return Job(
        id=row["id"],
        spec=spec,
        user_id=row["user_id"],
        guild_id=row["guild_id"],
        sources={name: Source.from_dict(data) for name, data in json.loads(row["sources"] or "{}").items()},
        status=Status(row["status"]),
        outcome=Status(row["outcome"]) if row["outcome"] else None,
        step=row["step"],
        steps={name: StepRecord.from_dict(data) for name, data in json.loads(row["steps"] or "{}").items()},
        inputs_ready=bool(row["inputs_ready"]),
        error=row["error"],
        refused_input=row["refused_input"],
        result=json.loads(row["result"]) if row["result"] else None,
        cost_estimate=row["cost_estimate"],
        seq=row["seq"],
        turn=row["turn"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        delivered_at=row["delivered_at"],
        delivery_error=row["delivery_error"],
        cancel_requested=bool(row["cancel_requested"]),
        owner=row["owner"],
        counted_day=row["counted_day"],
        counted_price=float(row["counted_price"] or 0.0),
        locale=row["locale"],
    )


def address_value(address: Address, column: str) -> Any:
    value = getattr(address, column)
    return bool(value) if column in _ADDRESS_BOOLS else value


def address_row(address: Address) -> dict[str, Any]:
    return {column: address_value(address, column) for column in ADDRESS_COLUMNS}


def address_from_row(row: Mapping[str, Any]) -> Address:
    data = {column: row[column] for column in ADDRESS_COLUMNS}
    for column in _ADDRESS_BOOLS:
        data[column] = bool(data[column])
    return Address(**data)
