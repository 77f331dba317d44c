"""/dub and "Dub this video" through the real bot (python -m bot against both stand-ins, on SQLite and PostgreSQL):
a video given as an attachment, a link or a message's video is measured, priced on its true length, sent to VEED's
dubbing on fal with the language code (the stand-in checks the payload against the contract) and comes back as the
dubbed video with the AI label; a video over the model's limit and a language the model does not take are refused
privately with nothing sent to fal."""

from __future__ import annotations

import pytest

from tests.helpers import FIXTURES, STORES, attach, finished, private_followup, refused, shown_text
from tests.standins.fal_queue import JobScript

pytestmark = pytest.mark.parametrize("bot_database", STORES, indirect=True)

QUICK = JobScript(queue_positions=[0], queue_step=0.2, run_time=0.4, logs=["Translating the speech"])
CLIP_SECONDS = "7.1"  # tests/fixtures/clip.mp4
LABEL = "🤖 **Generated with AI** by {name} (`{endpoint}` on fal.ai) — not a real recording."


@pytest.fixture
def bot_settings():
    return {"PRIVATE_LINK_HOSTS": "127.0.0.1"}  # the link host runs on 127.0.0.1


def shown_all(message) -> list[str]:
    return [body.get("content") or "" for _, body in message.edits] + [shown_text(message)]


async def test_dub_an_attachment_and_refuse_what_cannot_be_dubbed(bot, discord_standin, fal_standin):
    fal_standin.script("veed/dubbing", QUICK)
    clip = attach(discord_standin, "clip.mp4", "video/mp4")
    message = await finished(
        discord_standin, await discord_standin.send_command("dub", {"video": clip, "language": "es"})
    )
    text = shown_text(message)
    assert LABEL.format(name="VEED Dubbing", endpoint="veed/dubbing") in text
    assert "Dubbed into Spanish (es)" in text and f"Estimated cost $0.78 · video {CLIP_SECONDS} s" in text
    assert message.attachments  # the dubbed video itself
    assert any("Dubbing into Spanish (es)" in shown for shown in shown_all(message))
    (job,) = fal_standin.jobs.values()
    assert job.payload["target_language"] == "es" and set(job.payload) == {"video_url", "target_language"}
    assert fal_standin.uploads[job.payload["video_url"]] == (FIXTURES / "clip.mp4").read_bytes()
    assert fal_standin.violations == []  # the payload is valid against veed/dubbing's contract
    requests = len(fal_standin.requests)

    # A language the model does not take: refused at once, privately, naming the accepted form.
    unknown = await discord_standin.send_command("dub", {"video": clip, "language": "Klingon"})
    await discord_standin.wait_for(lambda: unknown.callbacks)
    assert refused(unknown)
    answer = unknown.callbacks[0][1]["data"]["content"]
    assert answer.startswith("⚠️ `language`: 'Klingon' is not a language VEED Dubbing knows") and "`es`" in answer
    assert "autocomplete" in answer

    # A video over the model's 600 s: measured once downloaded, refused privately with its length and the limit.
    long = attach(discord_standin, "long_601s.mp4", "video/mp4")
    too_long = await discord_standin.send_command("dub", {"video": long, "language": "fr"})
    answer = await discord_standin.wait_for(lambda: private_followup(discord_standin, too_long), timeout=30)
    assert answer.content.startswith("⚠️ `video`: the video lasts 602.0 s; VEED Dubbing accepts at most 600 s"), (
        answer.content
    )
    assert "Nothing was sent to fal or charged" in answer.content
    assert len(fal_standin.requests) == requests  # neither refusal reached fal, not even an upload

    # The language autocomplete follows the model chosen: pro offers the regional accents.
    offered = await discord_standin.send_autocomplete(
        "dub", {"language": "portu", "model": "veed/dubbing/pro"}, "language"
    )
    await discord_standin.wait_for(lambda: offered.callbacks)
    choices = offered.callbacks[0][1]["data"]["choices"]
    assert [c["value"] for c in choices] == ["pt", "pt-BR"] and choices[0]["name"] == "Portuguese (pt)"
    standard = await discord_standin.send_autocomplete("dub", {"language": "portu"}, "language")
    await discord_standin.wait_for(lambda: standard.callbacks)
    assert [c["value"] for c in standard.callbacks[0][1]["data"]["choices"]] == ["pt"]
    assert "Traceback" not in bot.log


async def test_dub_a_link_with_pro_and_a_messages_video_from_the_menu(bot, discord_standin, fal_standin, link_host):
    fal_standin.script("veed/dubbing/pro", QUICK)
    fal_standin.script("veed/dubbing", QUICK)
    options = {"video_url": link_host.url("files/clip.mp4"), "language": "es-MX", "model": "veed/dubbing/pro"}
    message = await finished(discord_standin, await discord_standin.send_command("dub", options))
    text = shown_text(message)
    assert LABEL.format(name="VEED Dubbing Pro", endpoint="veed/dubbing/pro") in text
    assert "Dubbed into Spanish (Mexico) (es-MX)" in text and f"video {CLIP_SECONDS} s" in text
    (pro,) = fal_standin.jobs.values()
    assert pro.endpoint_id == "veed/dubbing/pro" and pro.payload["target_language"] == "es-MX"
    assert fal_standin.uploads[pro.payload["video_url"]] == (FIXTURES / "clip.mp4").read_bytes()

    # Right-click a message with a video → Apps → Dub this video; the modal asks for the language by name.
    clip = attach(discord_standin, "clip.mp4", "video/mp4", "holiday.mp4")
    posted = discord_standin.add_user_message("", attachments=[clip])
    menu = await discord_standin.send_message_command("Dub this video", posted)
    await discord_standin.wait_for(lambda: menu.callbacks)
    assert menu.callbacks[0][1]["type"] == 9  # a modal
    result = await finished(discord_standin, await discord_standin.send_modal_submit(menu, {"dub:language": "German"}))
    assert "video `holiday.mp4`" in shown_text(result) and "Dubbed into German (de)" in shown_text(result)
    dubbed = [j for j in fal_standin.jobs.values() if j.endpoint_id == "veed/dubbing"]
    assert [j.payload["target_language"] for j in dubbed] == ["de"]
    assert fal_standin.violations == []
