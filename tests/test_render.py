"""The job message as pure functions of a job."""

from __future__ import annotations

import dataclasses

import pytest

from bot.discord_app import render
from bot.jobs.lifecycle import Status
from bot.jobs.model import Job
from bot.jobs.spec import Command, JobSpec, Source


def job(**changes) -> Job:
    base = Job(
        id="3f9c2a1b",
        user_id=42,
        created_at=1_700_000_000.0,
        spec=JobSpec(Command.TALKINGHEAD, model="veed/fabric-1.0", image_url="https://x/p.png", text="Hello there"),
        sources={"image": Source("image", "https://x/p.png", True, "face.png")},
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def ended(outcome: Status, **changes) -> Job:
    return job(status=Status.DELIVERING, outcome=outcome, **changes)


def test_a_job_is_queued_on_fal_only_once_fal_took_it():
    assert "**Sending the job to fal**" in render.render(job(status=Status.SENDING, step="video"))
    assert "**Queued on fal**" in render.render(job(status=Status.QUEUED, step="video"))


def test_queued_progress_shows_position_start_eta_cost_and_log():
    text = render.render(
        job(status=Status.QUEUED, step="video", position=1, log="Loading model", cost_estimate=0.42),
        eta=4_000_000_000.0,
    )
    assert text.splitlines() == [
        "⏳ **Talking head** · VEED Fabric 1.0 · job `3f9c2a1b`",
        "**Queued on fal — position 2 in line**",
        "Started <t:1700000000:R> · done <t:4000000000:R> (estimate)",
        "Estimated cost $0.42",
        "> `Loading model`",
    ]


def test_the_cost_line_says_how_long_the_measured_audio_is():
    measured = job(status=Status.QUEUED, step="video", cost_estimate=1.15)
    measured.spec = dataclasses.replace(measured.spec, audio_seconds=14.25)
    assert "Estimated cost $1.15 · audio 14.2 s" in render.render(measured).splitlines()
    assert "Estimated cost $0.42" in render.render(job(status=Status.QUEUED, cost_estimate=0.42)).splitlines()


@pytest.mark.parametrize(
    "changes,line",
    [
        ({"status": Status.STARTING}, "**Starting**"),
        ({"status": Status.STARTING, "uploading": True}, "**Checking the inputs and uploading them to fal**"),
        ({"status": Status.SENDING, "step": "speech"}, "**Speaking the text with MiniMax Speech 2.6 Turbo**"),
        ({"status": Status.RUNNING, "step": "speech"}, "**Speaking the text with MiniMax Speech 2.6 Turbo**"),
        ({"status": Status.RUNNING, "step": "video"}, "**Generating with VEED Fabric 1.0**"),
        ({"status": Status.FETCHING, "step": "video"}, "**Fetching the video from fal**"),
    ],
)
def test_each_status_has_its_own_words(changes, line):
    assert render.render(job(**changes)).splitlines()[1] == line


def test_a_past_eta_is_not_shown():
    assert "estimate" not in render.render(job(status=Status.RUNNING), eta=1.0)


def test_result_has_the_link_inputs_and_duration():
    done = ended(Status.DONE, finished_at=1_700_000_108.0, result={"video": {"url": "https://v3.fal.media/o.mp4"}})
    lines = render.render(done).splitlines()
    assert lines[0] == "✅ **Talking head ready** · VEED Fabric 1.0 · job `3f9c2a1b` · took 1m 48s"
    assert lines[1] == "Inputs: image `face.png` · text (11 characters, voice `Wise_Woman`)"
    assert lines[-1] == "https://v3.fal.media/o.mp4"


def test_failure_shows_the_cause():
    text = render.render(job(status=Status.FAILED, error="`audio`: too long"))
    assert text.startswith("❌ **Talking head failed**") and "`audio`: too long" in text


def test_user_and_model_text_cannot_format_or_mention():
    text = render.render(job(status=Status.RUNNING, log="@everyone `boom` **bold**\n<@&1>"))
    assert "> `@everyone ˋboomˋ **bold** <@&1>`" in text


def test_long_log_lines_and_messages_are_cut_to_discords_limits():
    text = render.render(job(status=Status.RUNNING, log="x" * 5000))
    assert len(text) < render.MESSAGE_LIMIT and "…" in text
    assert len(render.fit("y" * 3000)) == render.MESSAGE_LIMIT


@pytest.mark.parametrize("seconds,shown", [(0, "0s"), (59.6, "1m 00s"), (108, "1m 48s"), (3725, "1h 02m")])
def test_format_duration(seconds, shown):
    assert render.format_duration(seconds) == shown


def test_the_late_ending_of_a_job_without_a_video_mentions_only_where_it_should():
    failed = ended(Status.FAILED, error="fal rejected the input")
    assert render.render_ready_ping(failed) == "<@42> your talking head job `3f9c2a1b` failed: fal rejected the input"
    assert render.render_ready_ping(failed, mention=False).startswith("Your talking head job")


def test_a_job_that_can_only_end_by_dm_says_so_up_front():
    assert "the result comes to your DMs" in render.render(job(status=Status.QUEUED), ends_by_dm=True)
    assert "DMs" not in render.render(job(status=Status.QUEUED))


# ---- the waiting line, cancels and the result card


def test_a_waiting_job_says_where_it_stands():
    from bot.jobs.line import Place, Wait

    waiting = job(status=Status.WAITING)
    assert render.render(waiting, place=Place(3, Wait.SLOT)).splitlines()[:2] == [
        "🕒 **Talking head** · VEED Fabric 1.0 · job `3f9c2a1b`",
        "**Waiting for a free slot — 3 ahead of you**",
    ]
    assert "you are next" in render.render(waiting, place=Place(0, Wait.SLOT))
    assert "about 140 ahead of you" in render.render(waiting, place=Place(137, Wait.SLOT))
    assert "Waiting for one of your 2 running jobs to finish" in render.render(waiting, place=Place(0, Wait.OWN, 2))
    assert render.job_state(waiting, Place(4, Wait.SLOT)) == "waiting (4 ahead of you)"


def test_cancel_replies_promise_only_what_fal_answered():
    from bot.jobs.runner import Cancelled

    replies = {outcome: render.cancel_reply(job(), outcome) for outcome in Cancelled}
    assert "nothing was sent to fal or charged" in replies[Cancelled.WAITING]
    assert "may still finish and fal may bill it" in replies[Cancelled.REQUESTED]
    assert "nothing" not in replies[Cancelled.REQUESTED]
    assert "its video is on the way" in replies[Cancelled.TOO_LATE]
    assert all("`3f9c2a1b`" in reply for reply in replies.values())


def test_the_result_card_carries_the_video_and_a_download_link():
    done = ended(
        Status.DONE,
        finished_at=1_700_000_108.0,
        cost_estimate=0.42,
        result={"video": {"url": "https://v3.fal.media/files/out.mp4"}},
    )
    card = render.result_card(done, attached="talkinghead-3f9c2a1b.mp4")
    assert card.body.splitlines()[0] == "✅ **Talking head ready** · VEED Fabric 1.0 · job `3f9c2a1b` · took 1m 48s"
    assert card.media == "attachment://talkinghead-3f9c2a1b.mp4"
    assert (
        card.footer
        == "[Download the video from fal](https://v3.fal.media/files/out.mp4) (fal keeps its files for a limited time)"
    )
    linked = render.result_card(done, attached=None, note="The video is 12.0 MB, more than …", mention=True)
    assert linked.media is None and linked.footer.startswith("The video is 12.0 MB")
    assert linked.body.startswith("<@42> your talking head video is ready\n✅")


# ---- labels: every result says it is AI-generated, and by which model


LABEL = "🤖 **Generated with AI** by VEED Fabric 1.0 (`veed/fabric-1.0` on fal.ai)"


def test_every_result_says_plainly_it_was_generated_with_ai_and_by_which_model():
    spoken = ended(Status.DONE, finished_at=1_700_000_108.0, result={"video": {"url": "https://v3.fal.media/o.mp4"}})
    label = f"{LABEL}, speech by MiniMax Speech 2.6 Turbo — not a real recording."
    assert render.result_card(spoken, attached="a.mp4").body.splitlines()[2] == label
    assert render.render(spoken).splitlines()[2] == label  # the text form (/jobs, a card that cannot be sent)
    lipsync = ended(
        Status.DONE,
        spec=JobSpec(Command.LIPSYNC, video_url="https://x/v.mp4", audio_url="https://x/a.mp3"),
        sources={"audio": Source("audio", "https://x/a.mp3", True, "a.mp3")},
    )
    model = lipsync.spec.main_model
    assert (
        f"🤖 **Generated with AI** by {model.name} (`{model.endpoint_id}` on fal.ai) — not a real recording."
        in render.result_card(lipsync, attached=None, note="linked").body.splitlines()
    )


def test_the_card_says_whether_the_attached_file_carries_content_credentials():
    done = ended(Status.DONE, result={"video": {"url": "https://v3.fal.media/o.mp4"}})
    signed = render.result_card(done, attached="a.mp4", signed=True).footer.splitlines()
    assert signed[0] == str(render.CREDENTIALS_NOTE) and signed[-1].startswith("[Download the video from fal](")
    unsigned = render.result_card(done, attached="a.mp4", signed=False).footer.splitlines()
    assert unsigned[0] == str(render.NO_CREDENTIALS_NOTE) and "no content credentials" in unsigned[0]
    linked = render.result_card(done, attached=None, note="The video is 12.0 MB …", signed=True).footer
    assert "content credentials" not in linked  # fal's own file, linked, is not the bot's to vouch for


def test_the_label_survives_the_longest_notes_within_discords_limits():
    done = ended(Status.DONE, error="x" * 5000, cost_estimate=1.0, result={"video": {"url": "https://v/" + "y" * 3000}})
    card = render.result_card(done, attached="a.mp4", note="z" * 5000, mention=True, signed=False)
    assert LABEL in card.body and len(card.body) + len(card.footer) <= render.TEXT_DISPLAY_LIMIT
    assert LABEL in render.render(done) and len(render.render(done)) <= render.MESSAGE_LIMIT


def test_the_pointer_names_the_message_that_has_the_video():
    done = job(status=Status.DONE)
    assert render.pointer(done, "https://discord.com/channels/1/2/3") == (
        "✅ **Talking head ready** · VEED Fabric 1.0 · job `3f9c2a1b` · the video is here: https://discord.com/channels/1/2/3"
    )


def dub_job(**changes) -> Job:
    spec = JobSpec(Command.DUB, model="veed/dubbing", video_url="https://x/v.mp4", language="es", video_seconds=6.0)
    return job(spec=spec, sources={"video": Source("video", "https://x/v.mp4", True, "talk.mp4")}, **changes)


def test_a_dub_says_what_it_does_in_words_and_prices_the_video():
    running = render.render(dub_job(status=Status.RUNNING, step="video", cost_estimate=0.66))
    assert running.splitlines()[:3] == [
        "🎬 **Dub** · VEED Dubbing · job `3f9c2a1b`",
        "**Dubbing with VEED Dubbing**",
        "Dubbing into Spanish (es)",
    ]
    assert "Estimated cost $0.66 · video 6.0 s" in running.splitlines()
    card = render.result_card(ended(Status.DONE, cost_estimate=0.66, spec=dub_job().spec), attached="dub.mp4")
    lines = card.body.splitlines()
    assert "Dubbed into Spanish (es); the speakers' voices are cloned and their lips re-synced." in lines
    assert "🤖 **Generated with AI** by VEED Dubbing (`veed/dubbing` on fal.ai) — not a real recording." in lines
    assert "Estimated cost $0.66 · video 6.0 s" in lines
    assert "video `talk.mp4` · language es" in render.input_summary(dub_job())


def test_a_dub_whose_video_is_not_measured_shows_no_length():
    unmeasured = dub_job(status=Status.QUEUED, cost_estimate=66.0)
    unmeasured.spec = dataclasses.replace(unmeasured.spec, video_seconds=None)
    assert "Estimated cost $66.00" in render.render(unmeasured).splitlines()
    assert render.dubbing(job()) == ""  # other jobs say nothing of dubbing
