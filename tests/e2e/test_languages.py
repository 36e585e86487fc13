"""Two languages on one broadcast in real Chromium: a Kazakh viewer's live status, a Russian projector view."""
from __future__ import annotations

from companion.testing.liveserver import Recorder
from .test_rehearsal import browser  # noqa: F401 - fixture


def ask_in_kazakh(browser, server, text: str):  # noqa: F811
    """A Kazakh viewer asks and sees the question waiting; a moderator's socket in Russian. (context, page, moderator)"""
    context = browser.new_context(locale="kk-KZ")
    viewer = context.new_page()
    viewer.goto(server.url + "/lang/kk?next=/b/demo")
    viewer.fill("#q-text", text)
    viewer.click("#q-submit")
    viewer.wait_for_selector("#mine .status:has-text('модерацияны күтуде')")
    return context, viewer, Recorder(server.url, "/staff", server.login("mod") + "; lang=ru")


def test_a_kazakh_viewer_sees_a_russian_moderators_approval_in_kazakh(browser, server):  # noqa: F811
    context, viewer, moderator = ask_in_kazakh(browser, server, "Саябақтағы шамдар қашан жөнделеді?")
    try:
        q = moderator.call("get_snapshot", {})["questions"][-1]
        assert moderator.call("approve", {"id": q["id"], "version": q["version"]})["ok"]
        viewer.wait_for_selector("#mine .status:has-text('мақұлданды')")
        assert "одобрен" not in viewer.inner_text("#mine")

        present = context.new_page()
        present.goto(server.url + "/present/demo?lang=ru")
        present.wait_for_selector("#p-top .p-votes")
        assert present.get_attribute("#p-top .p-votes", "aria-label") == "0 голосов"
        assert present.inner_text(".present-counters").count("вопросы") == 1
    finally:
        moderator.close()
        context.close()


def test_a_question_not_taken_on_air_reads_so_to_its_asker_in_their_language(browser, server):  # noqa: F811
    """Rejected as not for this broadcast, the question's appeal goes on: the asker's "my questions" says
    "not taken on air" (in the viewer's Kazakh, though the moderator's screen is in Russian), not "rejected"."""
    context, viewer, moderator = ask_in_kazakh(browser, server, "Ауладағы балалар алаңы қашан салынады?")
    try:
        q = moderator.call("get_snapshot", {})["questions"][-1]
        assert moderator.call("reject", {"id": q["id"], "version": q["version"],
                                         "ground": "not_for_broadcast"})["ok"]
        viewer.wait_for_selector("#mine .status:has-text('эфирге алынбады')")
        status = viewer.inner_text("#mine .status")
        assert "қабылданбады" not in status and "не взят" not in status
        viewer.reload()  # the same after a reload, from the server's list
        viewer.wait_for_selector("#mine .status:has-text('эфирге алынбады')")
    finally:
        moderator.close()
        context.close()
