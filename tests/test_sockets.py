"""Socket.IO handlers with Flask-SocketIO's test client: each role's allowed and forbidden events."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from companion.extensions import db, socketio
from companion.models import AuditEvent, Question, User


def _buffer(client, namespace: str) -> list:
    buffer = client.__dict__.setdefault("_events", {}).setdefault(namespace, [])
    buffer.extend(client.get_received(namespace))
    return buffer


def received(client, name: str, namespace: str) -> list[dict]:
    """The payloads of the events `name` this client got and no earlier call returned."""
    buffer = _buffer(client, namespace)
    found = [e["args"][0] for e in buffer if e["name"] == name]
    buffer[:] = [e for e in buffer if e["name"] != name]
    return found


def drain(client, namespace: str) -> None:
    """Forget every event received so far."""
    _buffer(client, namespace).clear()


def ask(viewer, text="When will the park open?", client_id="client-0001", **fields):
    return viewer.emit("submit_question", {"text": text, "client_id": client_id, **fields}, namespace="/",
                       callback=True)


def act(staff, event, question, **data):
    return staff.emit(event, {"id": question["id"], "version": question["version"], **data}, namespace="/staff",
                      callback=True)


def rows(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Question)).scalar_one()


def latest(staff) -> dict:
    """The newest state of each question from the desk_changed events."""
    state = {}
    for event in received(staff, "desk_changed", "/staff"):
        for q in event["questions"]:
            state[q["id"]] = q
    return state


def test_viewer_submit_is_acknowledged_after_commit_and_reaches_moderators(app, viewer_socket, staff_socket):
    mod = staff_socket("mod")
    viewer = viewer_socket()
    ack = ask(viewer, contact="+7 701 234 5678", consent=True)
    assert ack["ok"] and ack["created"]
    assert ack["question"]["tracking_code"].startswith("SRK-")
    assert ack["question"]["status"] == "pending"
    with app.app_context():
        stored = db.session.get(Question, ack["question"]["id"])
        assert stored.text == "When will the park open?"
    [event] = received(mod, "desk_changed", "/staff")
    assert event["event"] == "question_submitted"
    q = event["questions"][0]
    assert q["contact"] == "+7701*****78"  # moderators see a masked contact, never the full number


def test_same_client_id_five_times_makes_one_question(app, viewer_socket):
    viewer = viewer_socket()
    acks = [ask(viewer, client_id="double-click-1") for _ in range(5)]
    assert all(a["ok"] for a in acks)
    assert [a["created"] for a in acks] == [True, False, False, False, False]
    assert len({(a["question"]["id"], a["question"]["tracking_code"]) for a in acks}) == 1
    assert rows(app) == 1


def test_bad_input_gets_a_clear_error_over_the_socket(app, viewer_socket):
    ack = ask(viewer_socket(), text="   ")
    assert not ack["ok"]
    assert ack["error"]["code"] == "invalid"
    assert ack["error"]["fields"]["text"] == "Please write your question."
    assert rows(app) == 0


def test_pending_questions_are_not_sent_to_viewers(viewer_socket, staff_socket):
    mod = staff_socket("mod")
    watcher = viewer_socket()
    drain(watcher, "/")
    ask(viewer_socket(), author_name="Dana", contact="+77012345678", consent=True, show_name=True)
    assert received(watcher, "feed_changed", "/") == []
    q = latest(mod).popitem()[1]
    act(mod, "approve", q)
    [event] = received(watcher, "feed_changed", "/")
    public = event["questions"][0]
    assert public["visible"] and public["author_name"] == "Dana"
    assert "contact" not in public and "tracking_code" not in public


def test_whole_loop_reaches_speaker_and_viewers(viewer_socket, staff_socket):
    mod, speaker = staff_socket("mod"), staff_socket("speaker")
    viewer = viewer_socket()
    ask(viewer, text="Will the school on Satpayev be repaired?", author_name="Aigul", district="Samal", consent=True)
    q = latest(mod).popitem()[1]
    assert act(mod, "approve", q)["ok"]
    q = latest(mod)[q["id"]]
    assert act(mod, "queue", q)["ok"]
    q = latest(mod)[q["id"]]
    drain(speaker, "/staff")
    drain(viewer, "/")
    assert act(mod, "send_to_air", q)["ok"]
    prompter = received(speaker, "prompter_changed", "/staff")[-1]
    assert prompter["on_air"]["text"] == "Will the school on Satpayev be repaired?"
    assert (prompter["on_air"]["author_name"], prompter["on_air"]["district"]) == ("Aigul", "Samal")
    events = received(viewer, "feed_changed", "/")
    assert events[-1]["questions"][0]["status"] == "on_air"
    mine = received(viewer, "my_question_changed", "/")
    assert mine[-1]["status"] == "on_air"
    assert received(speaker, "desk_changed", "/staff") == []  # the speaker gets no moderation stream


def test_versions_are_consecutive_and_match_the_snapshot(viewer_socket, staff_socket):
    mod, mod2 = staff_socket("mod"), staff_socket("mod2")
    viewer = viewer_socket()
    for i in range(3):
        ask(viewer, text=f"question {i}", client_id=f"client-000{i}")
    for q in list(latest(mod).values()):
        act(mod, "approve", q)
    versions = [e["version"] for e in received(mod2, "desk_changed", "/staff")]
    assert versions == list(range(versions[0], versions[0] + 6))
    snapshot = mod2.emit("get_snapshot", {}, namespace="/staff", callback=True)
    assert snapshot["version"] == versions[-1]
    assert {q["status"] for q in snapshot["questions"]} == {"approved"}


def test_stale_action_from_a_second_moderator_is_refused(viewer_socket, staff_socket):
    mod, mod2 = staff_socket("mod"), staff_socket("mod2")
    ask(viewer_socket())
    q = latest(mod).popitem()[1]
    latest(mod2)
    assert act(mod, "approve", q)["ok"]
    ack = act(mod2, "reject", q, ground="spam")  # mod2 acted on the version it saw before the approval
    assert not ack["ok"] and ack["error"]["code"] == "stale_version"
    snapshot = mod2.emit("get_snapshot", {}, namespace="/staff", callback=True)
    assert snapshot["questions"][0]["status"] == "approved"


def test_viewer_socket_sending_moderator_events_is_refused_and_audited(app, viewer_socket, staff_socket):
    mod = staff_socket("mod")
    viewer = viewer_socket()
    ask(viewer)
    q = latest(mod).popitem()[1]
    for event in ("approve", "send_to_air", "reorder_queue", "update_settings"):
        ack = viewer.emit(event, {"id": q["id"], "version": q["version"], "settings": {"public_feed": False}},
                          namespace="/", callback=True)
        assert ack == {"ok": False, "error": {"code": "forbidden", "message": "You are not allowed to do this."}}
    snapshot = mod.emit("get_snapshot", {}, namespace="/staff", callback=True)
    assert snapshot["questions"][0]["status"] == "pending" and snapshot["settings"]["public_feed"] is True
    with app.app_context():
        refused = db.session.execute(select(AuditEvent).where(AuditEvent.action == "refused")).scalars().all()
        assert [r.detail["event"] for r in refused] == ["approve", "send_to_air", "reorder_queue", "update_settings"]


def test_staff_namespace_refuses_connections_without_login(app):
    anonymous = socketio.test_client(app, namespace="/staff", auth={"slug": "demo"})
    assert not anonymous.is_connected("/staff")
    http = app.test_client()
    http.get("/b/demo")  # a viewer's cookie is not a login
    viewer = socketio.test_client(app, namespace="/staff", auth={"slug": "demo"}, flask_test_client=http)
    assert not viewer.is_connected("/staff")


def test_officer_cannot_open_the_staff_live_namespace(app, staff_client):
    client = socketio.test_client(app, namespace="/staff", auth={"slug": "demo"},
                                  flask_test_client=staff_client("officer"))
    assert not client.is_connected("/staff")


def test_speaker_reads_the_prompter_but_cannot_moderate(app, viewer_socket, staff_socket):
    mod, speaker = staff_socket("mod"), staff_socket("speaker")
    ask(viewer_socket())
    q = latest(mod).popitem()[1]
    state = speaker.emit("get_prompter", {}, namespace="/staff", callback=True)
    assert state["ok"] and state["on_air"] is None
    ack = act(speaker, "send_to_air", q)
    assert ack["error"]["code"] == "forbidden"
    assert speaker.emit("get_snapshot", {}, namespace="/staff", callback=True)["error"]["code"] == "forbidden"
    assert mod.emit("get_snapshot", {}, namespace="/staff", callback=True)["questions"][0]["status"] == "pending"


def test_role_removed_mid_broadcast_refuses_the_next_event(app, viewer_socket, staff_socket):
    mod = staff_socket("mod")
    ask(viewer_socket())
    q = latest(mod).popitem()[1]
    with app.app_context():
        user = db.session.execute(select(User).where(User.username == "mod")).scalar_one()
        user.role = "speaker"
        db.session.commit()
    assert act(mod, "approve", q)["error"]["code"] == "forbidden"


def test_unknown_broadcast_connection_is_refused(app):
    client = socketio.test_client(app, namespace="/", auth={"slug": "nope"})
    assert not client.is_connected("/")


def test_merge_over_sockets_carries_votes(viewer_socket, staff_socket):
    mod = staff_socket("mod")
    mod.emit("update_settings", {"settings": {"pre_moderation": False}}, namespace="/staff", callback=True)
    asker1, asker2 = viewer_socket(), viewer_socket()
    a = ask(asker1, text="Road on Abay", client_id="client-aaaa")["question"]
    b = ask(asker2, text="Abay road again", client_id="client-bbbb")["question"]
    voters = [viewer_socket() for _ in range(3)]
    for v in voters:
        assert v.emit("vote", {"question_id": b["id"]}, namespace="/", callback=True)["votes"] >= 1
    voters[0].emit("vote", {"question_id": a["id"]}, namespace="/", callback=True)
    state = latest(mod)
    drain(asker2, "/")
    ack = mod.emit("merge_question", {"id": b["id"], "version": state[b["id"]]["version"], "target_id": a["id"]},
                   namespace="/staff", callback=True)
    assert ack["ok"]
    merged = latest(mod)
    assert merged[a["id"]]["votes"] == 3 and merged[a["id"]]["asker_count"] == 2
    assert merged[b["id"]]["status"] == "merged"
    [mine] = received(asker2, "my_question_changed", "/")
    assert mine["merged_into_code"] == a["tracking_code"]


def test_unmerge_over_sockets_is_for_moderators_and_reaches_every_screen(viewer_socket, staff_socket):
    mod, speaker, other_mod = staff_socket("mod"), staff_socket("speaker"), staff_socket("mod2")
    asker = viewer_socket()
    a = ask(asker, text="Road on Abay", client_id="client-aaaa")["question"]
    b = ask(asker, text="Abay road again", client_id="client-bbbb")["question"]
    state = latest(mod)
    assert act(mod, "merge_question", state[b["id"]], target_id=a["id"])["ok"]
    merged = latest(mod)[b["id"]]
    assert "unmerge" in merged["actions"]
    refused = act(speaker, "unmerge_question", merged)
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden"
    assert act(mod, "unmerge_question", {"id": merged["id"], "version": merged["version"] - 1})["error"]["code"] \
        == "stale_version"
    drain(other_mod, "/staff")
    drain(asker, "/")
    ack = act(mod, "unmerge_question", merged)
    assert ack["ok"]
    seen = latest(other_mod)
    assert seen[b["id"]]["status"] == "pending" and seen[b["id"]]["merged_into_id"] is None
    assert seen[a["id"]]["asker_count"] == 1
    assert [q["status"] for q in received(asker, "my_question_changed", "/") if q["id"] == b["id"]] == ["pending"]
    again = act(mod, "unmerge_question", seen[b["id"]])
    assert again["ok"] is False and again["error"]["code"] == "invalid_transition"


def test_vote_twice_counts_once_and_updates_everyone(viewer_socket, staff_socket):
    mod = staff_socket("mod")
    mod.emit("update_settings", {"settings": {"pre_moderation": False}}, namespace="/staff", callback=True)
    viewer, other = viewer_socket(), viewer_socket()
    q = ask(viewer)["question"]
    drain(other, "/")
    assert [viewer.emit("vote", {"question_id": q["id"]}, namespace="/", callback=True)["votes"]
            for _ in range(2)] == [1, 1]
    assert received(other, "votes_changed", "/")[-1] == {"votes": {str(q["id"]): 1}}
    snapshot = viewer.emit("get_snapshot", {}, namespace="/", callback=True)
    assert snapshot["voted"] == [q["id"]]


def test_phone_question_added_by_moderator(app, staff_socket):
    mod = staff_socket("mod")
    ack = mod.emit("add_phone_question", {"text": "Caller asks about heating", "author_name": "Serik",
                                          "contact": "87012345678", "consent": True, "client_id": "phone-call-1"},
                   namespace="/staff", callback=True)
    assert ack["ok"] and ack["question"]["channel"] == "phone" and ack["question"]["status"] == "approved"
    with app.app_context():
        assert db.session.execute(select(AuditEvent.action).where(AuditEvent.action == "add_question")).scalar_one()


@pytest.mark.parametrize("bad", ["not a dict", ["list"], 42])
def test_malformed_payloads_get_an_error_not_a_crash(viewer_socket, staff_socket, bad):
    assert viewer_socket().emit("submit_question", bad, namespace="/", callback=True)["error"]["code"] == "invalid"
    assert staff_socket("mod").emit("approve", bad, namespace="/staff", callback=True)["error"]["code"] == "invalid"


def test_reconnecting_viewer_catches_up_from_the_snapshot(viewer_socket, staff_socket):
    mod = staff_socket("mod")
    viewer = viewer_socket()
    ask(viewer)
    viewer.disconnect(namespace="/")
    q = latest(mod).popitem()[1]
    act(mod, "send_to_air", q, confirm=True)
    viewer.connect(namespace="/", auth={"slug": "demo"})
    snapshot = viewer.emit("get_snapshot", {}, namespace="/", callback=True)
    assert [x["status"] for x in snapshot["questions"]] == ["on_air"]
    assert snapshot["mine"][0]["status"] == "on_air"


def test_follow_up_flag_keeps_the_appeal_open_after_the_answer_on_air(app, viewer_socket, staff_socket):
    mod, mod2, speaker = staff_socket("mod"), staff_socket("mod2"), staff_socket("speaker")
    ask(viewer_socket())
    q = latest(mod).popitem()[1]
    drain(mod2, "/staff")
    assert q["appeal"]["status"] == "registered" and q["appeal"]["follow_up"] is False
    assert act(speaker, "flag_follow_up", q, on=True)["error"]["code"] == "forbidden"
    assert act(mod, "flag_follow_up", q, on=True)["ok"]
    flagged = latest(mod2)[q["id"]]
    assert flagged["appeal"]["follow_up"] is True and flagged["version"] == q["version"] + 1
    assert act(mod, "send_to_air", flagged, confirm=True)["ok"]
    aired = latest(mod)[q["id"]]
    assert act(mod, "mark_answered", aired)["ok"]
    answered = latest(mod2)[q["id"]]
    assert answered["status"] == "answered" and answered["appeal"]["status"] == "answered_on_air"
    assert act(mod, "flag_follow_up", q, on=False)["error"]["code"] == "stale_version"


def test_the_live_queue_shows_overdue_appeals_in_red(app, viewer_socket, staff_socket):
    from datetime import timedelta

    from companion.models import Appeal
    from companion.services import deadlines
    mod = staff_socket("mod")
    ask(viewer_socket(), author_name="Aigerim", contact="+77011234567", consent=True)  # an appeal: on the clock
    with app.app_context():
        appeal = db.session.execute(select(Appeal)).scalar_one()
        appeal.due_date = deadlines.local_date() - timedelta(days=1)
        db.session.commit()
    snapshot = mod.emit("get_snapshot", {}, namespace="/staff", callback=True)
    assert snapshot["questions"][0]["appeal"]["urgency"] == "overdue"


def test_backstage_message_reaches_the_prompter_and_the_read_receipt_the_moderators(staff_socket):
    mod, mod2, speaker = staff_socket("mod"), staff_socket("mod2"), staff_socket("speaker")
    for client in (mod2, speaker):
        drain(client, "/staff")
    assert speaker.emit("send_backstage", {"text": "hi"}, namespace="/staff", callback=True)["error"]["code"] == "forbidden"
    assert mod.emit("send_backstage", {"text": "  "}, namespace="/staff", callback=True)["error"]["fields"]["text"]
    assert mod.emit("send_backstage", {"text": "Wrap up, please"}, namespace="/staff", callback=True)["ok"]
    shown = received(speaker, "prompter_changed", "/staff")[-1]["backstage"]["message"]
    assert shown["text"] == "Wrap up, please" and shown["read_at"] is None and shown["sent_by"] == "mod"
    assert received(mod2, "desk_changed", "/staff")[-1]["backstage"]["message"]["read_at"] is None
    ack = speaker.emit("backstage_read", {"id": shown["id"]}, namespace="/staff", callback=True)
    assert ack["ok"]
    receipt = received(mod2, "desk_changed", "/staff")[-1]
    assert receipt["event"] == "backstage_read" and receipt["backstage"]["message"]["read_at"]
    again = speaker.emit("backstage_read", {"id": shown["id"]}, namespace="/staff", callback=True)
    assert again["ok"] and received(mod2, "desk_changed", "/staff") == []  # read once
    snapshot = mod.emit("get_snapshot", {}, namespace="/staff", callback=True)
    assert snapshot["backstage"]["message"]["text"] == "Wrap up, please"


@pytest.mark.parametrize("seconds", [-5, 0.5, "60", True, 3601])
def test_countdown_refuses_bad_values(staff_socket, seconds):
    ack = staff_socket("mod").emit("set_countdown", {"seconds": seconds}, namespace="/staff", callback=True)
    assert ack["error"]["code"] == "invalid"


def test_countdown_reaches_the_prompter_and_can_be_stopped(staff_socket):
    mod, speaker = staff_socket("mod"), staff_socket("speaker")
    drain(speaker, "/staff")
    assert mod.emit("set_countdown", {"seconds": 90}, namespace="/staff", callback=True)["ok"]
    state = received(speaker, "prompter_changed", "/staff")[-1]
    from datetime import datetime
    left = (datetime.fromisoformat(state["backstage"]["countdown_until"])
            - datetime.fromisoformat(state["server_now"])).total_seconds()
    assert 88 <= left <= 90
    assert mod.emit("set_countdown", {"seconds": 0}, namespace="/staff", callback=True)["ok"]
    assert received(speaker, "prompter_changed", "/staff")[-1]["backstage"]["countdown_until"] is None


def test_socket_events_build_their_request_context_without_url_matching(app):
    """Every event's request context is built from its connection's request (/socket.io/): it is
    not matched against the URL map, so no event keeps a routing error or leaves werkzeug's
    matcher's reference cycle for the collector; url_for still works (e-mail notices use it)."""
    import gc

    from flask import request, url_for
    from werkzeug.test import EnvironBuilder
    for headers in ({}, {"Upgrade": "websocket", "Connection": "Upgrade"}):  # polling, and a WebSocket
        environ = EnvironBuilder("/socket.io/?EIO=4&transport=websocket", headers=headers).get_environ()
        with app.request_context(environ):
            assert request.routing_exception is None and request.url_rule is None
            assert url_for("public.track", code="SRK-2026-000001").endswith("SRK-2026-000001")
    environ = EnvironBuilder("/socket.io/?EIO=4&transport=websocket").get_environ()
    with app.request_context(dict(environ)):
        pass
    for _ in range(10):  # what the app's set-up left behind (its finalizers free more in the next round)
        if not gc.collect():
            break
    gc.disable()
    try:
        for _ in range(200):
            with app.request_context(dict(environ)):
                pass
        assert gc.collect() == 0  # no cycle left behind per event (a URL match left about ten objects)
    finally:
        gc.enable()
    with app.test_request_context("/b/demo"):  # pages are matched as before
        assert request.url_rule.rule == "/b/<slug>" and request.view_args == {"slug": "demo"}


def test_sending_to_air_reads_nothing_back_after_its_commit(app, viewer_socket, staff_socket):
    """Between a moderator's action and the audience hearing of it, the handler's database work
    does not grow with what the action changed: the questions are loaded with their appeals, the
    commit leaves them as the transaction made them, so the payloads need no query (they used to
    reload one query apiece on their first read, then in one query), the teleprompter's state is
    one query, and the sign-in check is one. Finishing the current question on the way costs its
    one UPDATE more, nothing else."""
    from sqlalchemy import event
    mod, viewer = staff_socket("mod"), viewer_socket()
    first, second = ask(viewer, client_id="client-q1")["question"], ask(viewer, text="And the bridge?",
                                                                        client_id="client-q2")["question"]
    for q in (first, second):
        assert mod.emit("approve", {"id": q["id"]}, namespace="/staff", callback=True)["ok"]
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, *args):
        statements.append(statement.split()[0].upper())
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert mod.emit("send_to_air", {"id": first["id"]}, namespace="/staff", callback=True)["ok"]
        alone = list(statements)
        statements.clear()
        assert mod.emit("send_to_air", {"id": second["id"], "finish_current": "defer"}, namespace="/staff",
                        callback=True)["ok"]
        finishing = list(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert received(viewer, "feed_changed", "/")[-1]["questions"][-1]["status"] == "on_air"
    assert len(finishing) == len(alone) + 1
    assert finishing.count("UPDATE") == alone.count("UPDATE") + 1
    # sign-in, broadcast, question, question on air (each with its appeal); audit, updates, versions;
    # teleprompter, backstage. Nothing is read back after the commit: the objects keep their values.
    assert alone.count("SELECT") == 6, alone


def test_socket_events_use_the_connections_session_without_decoding_the_cookie_again(app, viewer_socket,
                                                                                       staff_socket):
    """Flask-SocketIO gives each connection its own copy of the session; the cookie is decoded
    for the connection's first event and not for each one after (it was verified and decoded
    per event, then replaced). What the session holds still reaches the handlers: the viewer's
    own question comes back as theirs, and the moderator's sign-in is checked on every event."""
    interface = app.session_interface
    opened = []
    original = interface.open_session

    def counting(app_, request_):
        opened.append(request_.path)
        return original(app_, request_)
    interface.open_session = counting
    try:
        viewer, mod = viewer_socket(), staff_socket("mod")
        first = len(opened)
        q = ask(viewer)["question"]
        for i in range(5):
            assert viewer.emit("get_snapshot", namespace="/", callback=True)["mine"][0]["id"] == q["id"]
        assert mod.emit("approve", {"id": q["id"]}, namespace="/staff", callback=True)["ok"]
        assert mod.emit("get_prompter", namespace="/staff", callback=True)["ok"]
        assert len(opened) == first  # eight events, no cookie decoded
    finally:
        interface.open_session = original


def test_forward_immediately_on_the_desk_is_for_moderators_only(app, viewer_socket, staff_socket):
    from companion.models import Appeal
    mod, speaker, viewer = staff_socket("mod"), staff_socket("speaker"), viewer_socket()
    ask(viewer, "Anonymous: someone threatens to blow up the bridge")
    q = latest(mod).popitem()[1]
    assert "forward_immediately" in q["actions"] and q["appeal"]["statutory"] is False
    assert q["appeal"]["due_date"] is None and q["appeal"]["urgency"] is None  # a question only: no term
    assert act(speaker, "forward_immediately", q, forwarded_to="Police")["error"]["code"] == "forbidden"
    ack = viewer.emit("forward_immediately", {"id": q["id"], "version": q["version"], "forwarded_to": "Police"},
                      namespace="/", callback=True)
    assert ack["error"]["code"] == "forbidden"
    assert act(mod, "forward_immediately", q, forwarded_to="")["error"]["code"] == "invalid"
    assert act(mod, "forward_immediately", q, forwarded_to="District police department")["ok"]
    forwarded = latest(mod)[q["id"]]
    assert forwarded["appeal"]["status"] == "forwarded" and forwarded["appeal"]["urgent"] is True
    assert "forward_immediately" not in forwarded["actions"]
    with app.app_context():
        appeal = db.session.execute(select(Appeal)).scalar_one()
        assert appeal.forwarded_to == "District police department" and appeal.events[-1].actor.username == "mod"


def test_the_desk_starts_follow_up_on_for_an_appeal_with_a_contact(viewer_socket, staff_socket):
    mod = staff_socket("mod")
    ask(viewer_socket(), "Named: the heating is off", author_name="Aigerim", contact="+77011234567", consent=True)
    q = latest(mod).popitem()[1]
    assert q["appeal"]["statutory"] is True and q["appeal"]["follow_up"] is True and q["appeal"]["due_date"]


def test_forwarding_immediately_on_the_desk_tells_an_applicant_with_an_address(app, viewer_socket, staff_socket):
    from .test_appeals_http import Inbox, send_mail
    mod = staff_socket("mod")
    ask(viewer_socket(), "Named: a man threatens neighbours with a knife", author_name="Aigerim",
        contact="resident@example.kz", consent=True, language="ru")
    q = latest(mod).popitem()[1]
    with Inbox() as inbox:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=inbox.port, MAIL_FROM="akimat@example.kz")
        assert act(mod, "forward_immediately", q, forwarded_to="УП района")["ok"]
        send_mail(app)
        messages = inbox.wait(1)
    assert len(messages) == 1 and messages[0].rcpt_tos == ["resident@example.kz"]
    body = messages[0].content.decode("utf-8", "replace")
    import email
    import email.policy
    body = email.message_from_bytes(messages[0].content, policy=email.policy.default).get_content()
    assert "незамедлительно направлено: УП района" in body


def test_a_viewer_without_the_pages_cookie_may_ask_under_the_address_limit_but_not_vote(app):
    """A client that never opened /b/<slug> has no viewer identity: it asks under the per-address limit,
    its questions are not listed as its own, and it cannot vote."""
    bare = socketio.test_client(app, namespace="/", auth={"slug": "demo"})
    assert bare.is_connected("/")
    asked = bare.emit("submit_question", {"text": "No cookie", "client_id": "c" * 32}, namespace="/", callback=True)
    assert asked["ok"] is True
    assert bare.emit("get_snapshot", {}, namespace="/", callback=True)["mine"] == []
    vote = bare.emit("vote", {"question_id": asked["question"]["id"]}, namespace="/", callback=True)
    assert vote["ok"] is False and vote["error"]["code"] == "forbidden"


def test_a_viewer_that_missed_nothing_gets_the_vote_counts_not_every_question(viewer_socket, staff_socket):
    mod = staff_socket("mod")
    mod.emit("update_settings", {"settings": {"pre_moderation": False}}, namespace="/staff", callback=True)
    viewer, voter = viewer_socket(), viewer_socket()
    q = ask(viewer)["question"]
    full = viewer.emit("get_snapshot", {}, namespace="/", callback=True)
    assert [x["id"] for x in full["questions"]] == [q["id"]] and "unchanged" not in full
    voter.emit("vote", {"question_id": q["id"]}, namespace="/", callback=True)  # votes do not move the version
    resumed = viewer.emit("get_snapshot", {"since": full["version"]}, namespace="/", callback=True)
    assert resumed["unchanged"] is True and "questions" not in resumed
    assert resumed["votes"] == {str(q["id"]): 1} and resumed["version"] == full["version"]
    assert resumed["mine"][0]["id"] == q["id"] and resumed["settings"] == full["settings"]
    # behind, or a version that is not a number: every question again
    for since in (full["version"] - 1, str(full["version"]), True, None, [full["version"]]):
        again = viewer.emit("get_snapshot", {"since": since}, namespace="/", callback=True)
        assert again["ok"] and "unchanged" not in again and [x["id"] for x in again["questions"]] == [q["id"]]
    # something public changed since: the new state, not the counts
    act(mod, "send_to_air", latest(mod)[q["id"]], confirm=True)
    after = viewer.emit("get_snapshot", {"since": full["version"]}, namespace="/", callback=True)
    assert "unchanged" not in after and after["questions"][0]["status"] == "on_air"
