"""Every screen converges on the database (in the style of zulip's event-queue tests): a screen holds the
state of its snapshot, a member of staff acts, the screen applies the events it received the way its page
does (static/js: moderate.js, viewer.js, prompter.js), and what it then holds equals a fresh snapshot. An
event that leaves out a change, or one the screens apply wrongly, shows up here as a difference."""
from __future__ import annotations

import copy

import pytest

from .test_sockets import ask, received


def _desk(snapshot: dict) -> dict:
    return {"version": snapshot["version"], "settings": snapshot["settings"], "backstage": snapshot["backstage"],
            "questions": {q["id"]: q for q in snapshot["questions"]}, "counts": snapshot["counts"]}


def _apply_desk(state: dict, events: list[dict], votes: list[dict]) -> dict:
    """moderate.js: desk_changed replaces each question it carries and moves the counts by its `was`;
    settings and backstage when sent."""
    state = copy.deepcopy(state)
    for event in events:
        assert event["version"] == state["version"] + 1, "a desk event skipped a version"
        state["version"] = event["version"]
        if event.get("settings"):
            state["settings"] = event["settings"]
        if event.get("backstage"):
            state["backstage"] = event["backstage"]
        for q in event["questions"]:
            q = dict(q)
            was = q.pop("was")  # the status before: the desk's counts move by it (desk/state.js countMove)
            if was is not None:
                state["counts"][was] -= 1
            state["counts"][q["status"]] += 1
            state["questions"][q["id"]] = q
    for event in votes:
        for qid, n in event["votes"].items():
            if int(qid) in state["questions"]:
                state["questions"][int(qid)]["votes"] = n
    return state


def _audience(snapshot: dict) -> dict:
    return {"version": snapshot["version"], "settings": snapshot["settings"],
            "questions": {q["id"]: q for q in snapshot["questions"]},
            "mine": {q["id"]: q for q in snapshot["mine"]}}


def _apply_audience(state: dict, feed: list[dict], votes: list[dict], mine: list[dict]) -> dict:
    """viewer.js: feed_changed keeps visible questions and drops hidden ones; a settings change reloads."""
    state = copy.deepcopy(state)
    for event in feed:
        assert event["version"] == state["version"] + 1, "a feed event skipped a version"
        state["version"] = event["version"]
        if event.get("settings"):
            return None  # the page asks for a snapshot (viewer.js: live.resync()), which the caller compares
        for q in event["questions"]:
            if q["visible"]:
                state["questions"][q["id"]] = q
            else:
                state["questions"].pop(q["id"], None)
    for event in votes:
        for qid, n in event["votes"].items():
            if int(qid) in state["questions"]:
                state["questions"][int(qid)]["votes"] = n
    for q in mine:
        state["mine"][q["id"]] = q
    return state


def _differences(held: dict, fresh: dict) -> list[str]:
    out = []
    for key in fresh:
        if key != "questions" and held.get(key) != fresh[key]:
            out.append(f"{key}: held {held.get(key)!r}, fresh {fresh[key]!r}")
    for qid in sorted(set(held["questions"]) | set(fresh["questions"])):
        a, b = held["questions"].get(qid), fresh["questions"].get(qid)
        if a != b:
            keys = sorted(set(a or {}) | set(b or {}))
            out.append(f"question {qid}: " + ", ".join(f"{k}: {(a or {}).get(k)!r} -> {(b or {}).get(k)!r}"
                                                       for k in keys if (a or {}).get(k) != (b or {}).get(k)))
    return out


@pytest.fixture
def screens(app, viewer_socket, staff_socket):
    """A moderator who acts, a second moderator's desk, the teleprompter, and two viewers who ask."""
    # the desk reads its whole snapshot after every action, as no real desk does (a snapshot costs 10 of a
    # connection's 20 events a second: realtime/gate.py); what is checked here is what the screens show
    app.config["EVENTS_PER_SECOND_PER_CONNECTION"] = 10 ** 6
    actor, desk, speaker = staff_socket("mod"), staff_socket("mod2"), staff_socket("speaker")
    asker, watcher = viewer_socket(), viewer_socket()
    for n in range(6):  # three each: a viewer may ask only a few a minute
        assert ask(asker if n < 3 else watcher, text=f"Question number {n} about the park on Abai street",
                   client_id=f"converge-{n:04d}", author_name="Aigerim", district="Almaly", consent=True)["ok"]
    return actor, desk, speaker, asker, watcher


def _prompter(state: dict) -> dict:
    """The teleprompter's state without the ack's "ok" and the clock reading each message carries."""
    return {k: v for k, v in state.items() if k not in ("ok", "server_now")}


def _snapshots(desk, speaker, asker, watcher):
    return (_desk(desk.emit("get_snapshot", {}, namespace="/staff", callback=True)),
            _prompter(speaker.emit("get_prompter", {}, namespace="/staff", callback=True)),
            _audience(asker.emit("get_snapshot", {}, namespace="/", callback=True)),
            _audience(watcher.emit("get_snapshot", {}, namespace="/", callback=True)))


def _drain(*clients):
    for client, ns in clients:
        client.get_received(ns)
        client.__dict__.pop("_events", None)


def test_every_staff_action_converges_on_every_screen(screens):
    actor, desk, speaker, asker, watcher = screens
    _drain((actor, "/staff"), (desk, "/staff"), (speaker, "/staff"), (asker, "/"), (watcher, "/"))
    ids = sorted(_desk(desk.emit("get_snapshot", {}, namespace="/staff", callback=True))["questions"])
    a, b, c, d, e, f = ids

    held = {}

    def version(qid):  # as the acting moderator's screen knows it: from the latest snapshot
        return held["desk"]["questions"][qid]["version"]

    def act(event, qid=None, **data):
        body = {**data} if qid is None else {"id": qid, "version": version(qid), **data}
        return actor.emit(event, body, namespace="/staff", callback=True)

    steps = [
        ("approve", lambda: act("approve", a)),
        ("queue", lambda: act("queue", a)),
        ("approve b", lambda: act("approve", b)),
        ("queue b", lambda: act("queue", b)),
        ("reorder_queue", lambda: act("reorder_queue", order=[b, a])),
        ("send_to_air", lambda: act("send_to_air", b)),
        ("vote", lambda: watcher.emit("vote", {"question_id": a}, namespace="/", callback=True)),
        ("edit_question", lambda: act("edit_question", c, text="Question about the park on Abai street, edited")),
        ("merge_question", lambda: act("merge_question", d, target_id=c)),
        ("unmerge_question", lambda: act("unmerge_question", d)),
        ("approve c", lambda: act("approve", c)),
        ("approve d", lambda: act("approve", d)),
        ("merge two questions the audience sees", lambda: act("merge_question", d, target_id=c)),
        ("categorize_question", lambda: act("categorize_question", c, category_id=1)),
        ("flag_follow_up", lambda: act("flag_follow_up", c, on=True)),
        ("reject", lambda: act("reject", e, ground="spam")),
        ("restore", lambda: act("restore", e)),
        ("defer", lambda: act("defer", a)),
        ("mark_answered", lambda: act("mark_answered", b)),
        ("reopen", lambda: act("reopen", b)),
        ("send_to_air b", lambda: act("send_to_air", b)),
        ("send_to_air c, b answered", lambda: act("send_to_air", c, finish_current="mark_answered", current_id=b)),
        ("take_off_air", lambda: act("take_off_air", c)),
        ("update_settings: feed off", lambda: act("update_settings", settings={"public_feed": False})),
        ("update_settings: feed on", lambda: act("update_settings", settings={"public_feed": True})),
        ("send_backstage", lambda: act("send_backstage", text="Two minutes left")),
        ("set_countdown", lambda: act("set_countdown", seconds=90)),
        ("forward_immediately", lambda: act("forward_immediately", f, forwarded_to="Police of the district")),
        ("unqueue", lambda: act("unqueue", c)),
    ]
    desk_held, prompter_held, asker_held, watcher_held = _snapshots(desk, speaker, asker, watcher)
    for name, step in steps:
        held["desk"] = desk_held
        ack = step()
        assert ack.get("ok", True) is not False and "error" not in ack, (name, ack)
        desk_events = received(desk, "desk_changed", "/staff")
        assert desk_events or name == "vote", f"{name}: the other moderator's desk heard nothing"
        desk_held = _apply_desk(desk_held, desk_events, received(desk, "votes_changed", "/staff"))
        prompter_events = received(speaker, "prompter_changed", "/staff")
        if prompter_events:
            prompter_held = _prompter(prompter_events[-1])
        viewers_held = []
        for viewer, state in ((asker, asker_held), (watcher, watcher_held)):
            viewers_held.append(_apply_audience(state, received(viewer, "feed_changed", "/"), received(viewer, "votes_changed", "/"),
                                        received(viewer, "my_question_changed", "/")))
        fresh_desk, fresh_prompter, fresh_asker, fresh_watcher = _snapshots(desk, speaker, asker, watcher)
        assert _differences(desk_held, fresh_desk) == [], f"the desk after {name}"
        assert prompter_held == fresh_prompter, f"the teleprompter after {name}"
        for viewer_held, fresh, who in ((viewers_held[0], fresh_asker, "the asker"),
                                          (viewers_held[1], fresh_watcher, "a viewer")):
            if viewer_held is not None:  # None: the page reloaded its snapshot, as fresh is
                assert _differences(viewer_held, fresh) == [], f"{who} after {name}"
        desk_held, prompter_held, asker_held, watcher_held = fresh_desk, fresh_prompter, fresh_asker, fresh_watcher
