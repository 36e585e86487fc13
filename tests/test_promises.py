"""Promises made on air: marked on the desk (socket), tracked in the back office (HTTP), public once published."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from companion.extensions import db, socketio
from companion.models import AuditEvent, Broadcast, Promise, PromiseNote, User, utcnow
from companion.services import broadcasts, deadlines, intake, promises

API = "/api/v1/broadcasts/demo/questions"
SECRET_NAME = "Zhanar Secretname"
SECRET_CONTACT = "+77017654321"
QUESTION_TEXT = "When will the yard at Kenesary 40 be paved, it floods every spring"


def ask(app) -> int:
    """A named resident's question on the demo broadcast (an appeal with personal data); its id."""
    response = app.test_client().post(API, json={"text": QUESTION_TEXT, "author_name": SECRET_NAME,
                                                 "contact": SECRET_CONTACT, "consent": True, "language": "ru"})
    assert response.status_code == 201, response.json
    return response.json["id"]


def in_days(n: int) -> str:
    return (date.today() + timedelta(days=n)).isoformat()


def start_broadcast(app, seconds_ago: int, slug: str = "demo") -> None:
    """The broadcast went live `seconds_ago` (the seeded demo is live with no start recorded)."""
    with app.app_context():
        broadcast = intake.get_broadcast(slug)
        broadcast.started_at = utcnow() - timedelta(seconds=seconds_ago)
        db.session.commit()


def mark(staff, **fields):
    body = {"text": "The yard at Kenesary 40 will be paved", "department_id": 1, "due_date": in_days(60), **fields}
    return staff.emit("mark_promise", body, namespace="/staff", callback=True)


def user_id(name: str) -> int:
    return db.session.execute(select(User.id).where(User.username == name)).scalar_one()


def make_promise(app, *, department_id=1, due=None, status="planned", published=False, text="Paved by June",
                 broadcast="demo", question_id=None) -> int:
    with app.app_context():
        b = intake.get_broadcast(broadcast)
        p = Promise(broadcast_id=b.id, text=text, department_id=department_id, responsible="", question_id=question_id,
                    due_date=due or date.today() + timedelta(days=30), status=status, evidence_url="",
                    evidence_note="", published=published, version=1, created_by_id=user_id("mod"))
        db.session.add(p)
        db.session.commit()
        return p.id


def token(client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def act(client, app, pid: int, action: str, **form):
    """POST one action on the promise's page with its CSRF token and the promise's current version."""
    with app.app_context():
        version = db.session.get(Promise, pid).version
    return client.post(f"/promises/{pid}/{action}", data={"csrf_token": token(client, f"/promises/{pid}"),
                                                          "version": version, **form})


def load(app, pid: int) -> Promise:
    with app.app_context():
        p = db.session.get(Promise, pid)
        p.notes, p.department  # noqa: B018 - loaded before the context closes
        db.session.expunge_all()
        return p


# --- the desk ---------------------------------------------------------------------------------

def test_promise_marked_during_the_live_broadcast_records_the_moment_in_the_stream(app, staff_socket):
    qid = ask(app)
    start_broadcast(app, seconds_ago=754)
    ack = mark(staff_socket("mod"), question_id=qid, responsible="Roads and transport office")
    assert ack["ok"], ack
    assert 754 <= ack["promise"]["stream_offset"] <= 760 and ack["promise"]["moment"].startswith("12:3")
    with app.app_context():
        p = db.session.execute(select(Promise)).scalar_one()
        assert (p.question_id, p.department_id, p.responsible, p.status, p.published) == (
            qid, 1, "Roads and transport office", "planned", False)
        assert p.due_date == date.fromisoformat(in_days(60)) and 754 <= p.stream_offset <= 760
        assert p.created_by_id == user_id("mod")
        assert [(n.kind, n.author_id) for n in p.notes] == [("marked", user_id("mod"))]
        assert promises.state_of(p) == "planned"


def test_a_promise_outside_a_live_broadcast_has_no_moment_until_staff_give_it(app, staff_socket):
    with app.app_context():  # a live broadcast whose start was never recorded (seed-demo records the demo's)
        intake.get_broadcast("demo").started_at = None
        db.session.commit()
    ack = mark(staff_socket("mod"))
    assert ack["ok"] and ack["promise"]["stream_offset"] is None and ack["promise"]["moment"] == ""
    response = act(_client(app, "head"), app, ack["promise"]["id"], "edit", text="Paved by June", department_id="1",
                   responsible="", due_date=in_days(60), stream_offset="1:02:03")
    assert response.status_code == 302
    assert load(app, ack["promise"]["id"]).stream_offset == 3723


@pytest.mark.parametrize("fields, field", [
    ({"text": ""}, "text"), ({"text": "   "}, "text"), ({"text": 42}, "text"),
    ({"text": "x" * 501}, "text"), ({"responsible": "y" * 201}, "responsible"),
    ({"department_id": None, "responsible": ""}, "responsible"),
    ({"department_id": "abc"}, "department_id"), ({"department_id": 999}, "department_id"),
    ({"due_date": "by June"}, "due_date"), ({"due_date": ""}, "due_date"), ({"due_date": None}, "due_date"),
    ({"due_date": "2020-01-01"}, "due_date"), ({"due_date": "9999-12-31"}, "due_date"),
    ({"text": "bad \u202e text"}, "text"),
])
def test_the_desk_refuses_a_malformed_or_oversized_promise_with_the_field_named(app, staff_socket, fields, field):
    ack = mark(staff_socket("mod"), **fields)
    assert not ack["ok"] and field in ack["error"]["fields"], ack
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Promise)).scalar_one() == 0


def test_oversized_text_is_refused_with_a_clear_message(app, staff_socket):
    ack = mark(staff_socket("mod"), text="x" * 501)
    assert ack["error"]["fields"]["text"] == "At most 500 characters."


def test_a_promise_cannot_answer_another_broadcasts_question(app, staff_socket):
    qid = ask(app)
    with app.app_context():
        db.session.add(Broadcast(slug="other", title_en="Other", status="live"))
        db.session.commit()
    ack = mark(staff_socket("mod", slug="other"), question_id=qid)
    assert not ack["ok"] and ack["error"]["code"] == "not_found"
    ack = mark(staff_socket("mod"), question_id="1; DROP TABLE promise")
    assert not ack["ok"] and ack["error"]["code"] == "not_found"
    assert not mark(staff_socket("mod"), question_id=2 ** 70)["ok"]


def test_only_moderators_mark_promises_on_the_socket(app, staff_socket, viewer_socket):
    ack = mark(staff_socket("speaker"))
    assert not ack["ok"] and ack["error"]["code"] == "forbidden"
    with app.app_context():
        refused = db.session.execute(select(AuditEvent).where(AuditEvent.action == "refused")).scalars().all()
        assert [(e.actor, e.detail["event"]) for e in refused] == [("speaker", "mark_promise")]
    viewer = viewer_socket()
    ack = viewer.emit("mark_promise", {"text": "x", "department_id": 1, "due_date": in_days(5)}, namespace="/",
                      callback=True)
    assert not ack["ok"]
    anonymous = socketio.test_client(app, namespace="/staff", auth={"slug": "demo"})
    assert not anonymous.is_connected("/staff")  # no account: no staff socket at all
    assert not mark(staff_socket("mod"), text=None)["ok"]
    bad = staff_socket("mod").emit("mark_promise", ["not", "a", "dict"], namespace="/staff", callback=True)
    assert not bad["ok"] and bad["error"]["code"] == "invalid"
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Promise)).scalar_one() == 0
    assert mark(staff_socket("admin"))["ok"]


# --- the back office --------------------------------------------------------------------------

def _client(app, username):
    from .conftest import login
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def test_a_promise_marked_by_mistake_is_taken_back_on_the_desk_until_the_back_office_works_on_it(app, staff_socket,
                                                                                                  viewer_socket):
    mod, mod2 = staff_socket("mod"), staff_socket("mod2")
    first = mark(mod, text="Marked twice by mistake")["promise"]["id"]
    assert mod2.emit("withdraw_promise", {"id": first}, namespace="/staff", callback=True) == {"ok": True, "withdrawn": True}
    with app.app_context():
        assert db.session.get(Promise, first) is None
        assert db.session.scalars(select(PromiseNote).where(PromiseNote.promise_id == first)).all() == []
        withdrawn = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "promise_withdrawn")).one()
        assert withdrawn.actor == "mod2" and withdrawn.detail["text"] == "Marked twice by mistake"
    again = mod.emit("withdraw_promise", {"id": first}, namespace="/staff", callback=True)
    assert again["ok"] is False and again["error"]["code"] == "not_found"
    # once the back office has worked on it (or published it), it is theirs: the desk cannot take it back
    kept = mark(mod)["promise"]["id"]
    officer = _client(app, "officer")
    assert act(officer, app, kept, "note", note="Asphalt ordered").status_code == 302
    refused = mod.emit("withdraw_promise", {"id": kept}, namespace="/staff", callback=True)
    assert refused["ok"] is False and refused["error"]["code"] == "conflict"
    published = make_promise(app, published=True)
    assert mod.emit("withdraw_promise", {"id": published}, namespace="/staff", callback=True)["error"]["code"] == "conflict"
    other = make_promise(app, broadcast="demo")
    with app.app_context():
        b2 = broadcasts.save_broadcast({"slug": "other-show", "title_en": "Other"})
        db.session.get(Promise, other).broadcast_id = b2.id
        db.session.commit()
    assert mod.emit("withdraw_promise", {"id": other}, namespace="/staff", callback=True)["error"]["code"] == "not_found"
    for bad in (None, "abc", -1, 2 ** 70, {"x": 1}):
        assert mod.emit("withdraw_promise", {"id": bad}, namespace="/staff", callback=True)["ok"] is False
    speaker = staff_socket("speaker").emit("withdraw_promise", {"id": kept}, namespace="/staff", callback=True)
    assert speaker["error"]["code"] == "forbidden"
    assert viewer_socket().emit("withdraw_promise", {"id": kept}, namespace="/", callback=True)["error"]["code"] == "forbidden"
    with app.app_context():
        assert db.session.get(Promise, kept) is not None and db.session.get(Promise, published) is not None


def test_a_promise_through_its_lifecycle_in_the_back_office(app, staff_socket):
    pid = mark(staff_socket("mod"))["promise"]["id"]
    officer = _client(app, "officer")  # department 1: the promise's
    assert act(officer, app, pid, "status", status="in_progress", note="Contractor chosen").status_code == 302
    assert act(officer, app, pid, "note", note="Asphalt delivered").status_code == 302
    assert act(officer, app, pid, "evidence", evidence_url="https://akimat.example.kz/photos/40",
               evidence_note="Photo of the paved yard").status_code == 302
    assert act(officer, app, pid, "status", status="done").status_code == 302
    p = load(app, pid)
    assert p.status == "done" and p.done_at is not None and promises.state_of(p) == "done"
    assert p.evidence_url == "https://akimat.example.kz/photos/40" and p.evidence_note == "Photo of the paved yard"
    with app.app_context():
        officer_id = user_id("officer")
    assert [(n.kind, n.text) for n in p.notes] == [
        ("marked", ""), ("status", "Contractor chosen"), ("note", "Asphalt delivered"),
        ("evidence", "Photo of the paved yard"), ("status", "")]
    assert all(n.author_id == officer_id for n in p.notes[1:]) and all(n.at for n in p.notes)
    page = officer.get(f"/promises/{pid}").get_data(as_text=True)
    assert "Asphalt delivered" in page and "Contractor chosen" in page and "https://akimat.example.kz/photos/40" in page
    # reopened: no longer done
    assert act(officer, app, pid, "status", status="in_progress").status_code == 302
    assert load(app, pid).done_at is None


def test_an_open_promise_past_its_due_date_is_late_in_red_and_in_words(app):
    late = make_promise(app, due=date.today() - timedelta(days=3), text="Lights on Abay street")
    kept = make_promise(app, due=date.today() - timedelta(days=3), status="done", text="Bench repaired")
    head = _client(app, "head")
    page = head.get("/promises").get_data(as_text=True)
    row = re.search(r'<tr class="promise-row state-late urgency-overdue" data-id="%s">.*?</tr>' % late, page, re.DOTALL)
    assert row and "overdue" in row.group(0) and "late" in row.group(0)  # the word, not only the colour
    assert f'class="promise-row state-done" data-id="{kept}"' in page
    assert page.index("Lights on Abay street") < page.index("Bench repaired")  # late first, done last
    assert "Lights on Abay street" in head.get("/promises?state=late").get_data(as_text=True)
    assert "Bench repaired" not in head.get("/promises?state=late").get_data(as_text=True)
    assert head.get("/promises?state=lost").status_code == 400
    detail = head.get(f"/promises/{late}").get_data(as_text=True)
    assert "overdue" in detail and 'class="due overdue"' in detail
    with app.app_context():
        assert promises.state_of(db.session.get(Promise, late)) == "late"
        assert promises.state_of(db.session.get(Promise, late), deadlines.local_date() - timedelta(days=5)) == "planned"


def test_wrong_roles_are_refused_on_every_promise_route(app):
    own = make_promise(app, department_id=1)
    foreign = make_promise(app, department_id=2, text="Another department's promise")
    anonymous = app.test_client()
    assert anonymous.get("/promises").status_code == 302
    assert anonymous.get(f"/promises/{own}").status_code == 302
    assert anonymous.post(f"/promises/{own}/publish").status_code in (302, 400)
    for name in ("mod", "speaker"):
        client = _client(app, name)
        assert client.get("/promises").status_code == 403
        assert client.get(f"/promises/{own}").status_code == 403
        tok = token(client, "/")  # a valid token (the log-out form's): the role, not CSRF, refuses
        for action in ("status", "note", "evidence", "publish", "unpublish", "edit", "withdraw"):
            response = client.post(f"/promises/{own}/{action}", data={"csrf_token": tok, "status": "done",
                                                                       "reason": "x"})
            assert response.status_code == 403
    officer = _client(app, "officer")
    listing = officer.get("/promises").get_data(as_text=True)
    assert "Paved by June" in listing and "Another department" not in listing
    assert officer.get(f"/promises/{foreign}").status_code == 403
    tok = token(officer, f"/promises/{own}")
    for action in ("status", "note", "evidence", "publish", "unpublish", "edit", "withdraw"):
        assert officer.post(f"/promises/{foreign}/{action}", data={"csrf_token": tok, "status": "done",
                                                                   "note": "x", "reason": "x"}).status_code == 403
    assert officer.get("/promises/999999").status_code == 404
    assert officer.post(f"/promises/{own}/delete", data={"csrf_token": tok}).status_code == 404
    p = load(app, foreign)
    assert (p.status, p.published, len(p.notes)) == ("planned", False, 0)
    for name in ("head", "admin"):
        assert _client(app, name).get(f"/promises/{foreign}").status_code == 200


def test_an_officer_cannot_hand_a_promise_to_another_department(app):
    pid = make_promise(app, department_id=1)
    officer = _client(app, "officer")
    response = act(officer, app, pid, "edit", text="Paved by June", department_id="2", due_date=in_days(10))
    assert response.status_code == 403 and "Only the head or an admin" in response.get_data(as_text=True)
    assert load(app, pid).department_id == 1
    assert act(_client(app, "head"), app, pid, "edit", text="Paved by June", department_id="2",
               due_date=in_days(10)).status_code == 302
    assert load(app, pid).department_id == 2


def test_a_stale_form_is_refused_and_changes_nothing(app):
    pid = make_promise(app)
    head = _client(app, "head")
    tok = token(head, f"/promises/{pid}")
    assert act(head, app, pid, "note", note="first").status_code == 302
    response = head.post(f"/promises/{pid}/note", data={"csrf_token": tok, "version": "1", "note": "second"})
    assert response.status_code == 409 and "changed by someone else" in response.get_data(as_text=True)
    assert [n.text for n in load(app, pid).notes] == ["first"]


@pytest.mark.parametrize("action, form, message", [
    ("note", {"note": "n" * 2001}, "At most 2000 characters."),
    ("note", {"note": ""}, "This field is required."),
    ("status", {"status": "late"}, "Choose a status."),  # late is derived, never set
    ("status", {"status": "done", "note": "n" * 2001}, "At most 2000 characters."),
    ("evidence", {"evidence_url": "javascript:alert(1)"}, "https://"),
    ("evidence", {"evidence_url": "https://x.kz/" + "a" * 500}, "At most 500 characters."),
    ("evidence", {"evidence_url": "", "evidence_note": ""}, "Give a link or a note."),
    ("edit", {"text": "t" * 501, "department_id": "1", "due_date": "2027-01-01"}, "At most 500 characters."),
    ("edit", {"text": "ok", "department_id": "1", "due_date": "2027-02-30"}, "Choose the date"),
    ("edit", {"text": "ok", "department_id": "1", "due_date": "2027-01-01", "stream_offset": "99:99"}, "h:mm:ss"),
    ("edit", {"text": "ok", "department_id": "1", "due_date": "2027-01-01", "stream_offset": "30:00:00"}, "h:mm:ss"),
])
def test_the_back_office_refuses_bad_input_with_a_clear_error(app, action, form, message):
    pid = make_promise(app)
    response = act(_client(app, "head"), app, pid, action, **form)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    p = load(app, pid)
    assert (p.version, p.status, p.text, p.evidence_url) == (1, "planned", "Paved by June", "")


# --- the public pages -------------------------------------------------------------------------

def test_only_published_promises_are_on_the_roadmap_and_never_who_asked(app, staff_socket):
    qid = ask(app)
    pid = mark(staff_socket("mod"), question_id=qid, text="The yard at Kenesary 40 will be paved",
               responsible="Mr Internal Contact")["promise"]["id"]
    mark(staff_socket("mod"), text="A promise nobody published")
    public = app.test_client()
    page = public.get("/roadmap").get_data(as_text=True)
    assert "Kenesary 40 will be paved" not in page and "No promises published yet." in page
    assert act(_client(app, "head"), app, pid, "publish").status_code == 302
    page = public.get("/roadmap").get_data(as_text=True)
    assert "The yard at Kenesary 40 will be paved" in page and "A promise nobody published" not in page
    assert "planned" in page and "Passenger transport and roads department" in page  # its state and department
    for secret in (SECRET_NAME, SECRET_CONTACT, "7654321", QUESTION_TEXT, "Mr Internal Contact"):
        assert secret not in page
    assert act(_client(app, "head"), app, pid, "unpublish").status_code == 302
    assert "Kenesary 40 will be paved" not in public.get("/roadmap").get_data(as_text=True)


def test_the_roadmap_shows_each_promise_state_in_words(app):
    make_promise(app, published=True, status="done", text="Bench repaired")
    make_promise(app, published=True, status="in_progress", text="Playground being built")
    make_promise(app, published=True, due=date.today() - timedelta(days=1), text="Lights on Abay street")
    page = app.test_client().get("/roadmap").get_data(as_text=True)
    for text, state, word in (("Bench repaired", "done", "done"), ("Playground being built", "in_progress",
                                                                    "being carried out"),
                              ("Lights on Abay street", "late", "late")):
        item = re.search(r'<li class="promise state-%s">.*?</li>' % state, page, re.DOTALL).group(0)
        assert text in item and word in item
    assert "Done: 1" in page and "In progress: 1" in page and "Late: 1" in page


def test_hostile_text_is_escaped_everywhere_it_is_shown(app, staff_socket):
    hostile = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    pid = mark(staff_socket("mod"), text=hostile, responsible=hostile)["promise"]["id"]
    head = _client(app, "head")
    assert act(head, app, pid, "note", note=hostile).status_code == 302
    assert act(head, app, pid, "evidence", evidence_note=hostile, evidence_url="").status_code == 302
    assert act(head, app, pid, "publish").status_code == 302
    with app.app_context():
        db.session.add(Broadcast(slug="next", title_en="Next", status="scheduled",
                                 starts_at=utcnow() + timedelta(days=7)))
        db.session.commit()
        key = intake.get_broadcast("next").overlay_key
    for client, url in ((head, f"/promises/{pid}"), (head, "/promises"), (app.test_client(), "/roadmap"),
                        (app.test_client(), "/present/next"), (app.test_client(), f"/overlay/next?mode=promises&key={key}")):
        page = client.get(url).get_data(as_text=True)
        assert "<script>alert(1)" not in page and "<img src=x" not in page, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page or "&lt;script&gt;alert(1)..." in page \
            or "&lt;script&gt;" in page, url


def test_the_next_broadcasts_screens_show_last_broadcasts_promises(app):
    with app.app_context():
        demo = intake.get_broadcast("demo")
        demo.started_at = utcnow() - timedelta(days=7)
        db.session.add(Broadcast(slug="next", title_en="Next week", status="scheduled",
                                 starts_at=utcnow() + timedelta(hours=1)))
        db.session.commit()
        key = intake.get_broadcast("next").overlay_key
    make_promise(app, published=True, status="done", text="Bench repaired")
    make_promise(app, published=True, status="in_progress", text="Playground being built")
    make_promise(app, published=True, due=date.today() - timedelta(days=1), text="Lights on Abay street")
    make_promise(app, published=False, text="Unpublished promise")
    public = app.test_client()
    present = public.get("/present/next").get_data(as_text=True)
    assert "Last broadcast&#39;s promises" in present or "Last broadcast's promises" in present
    assert "Done: 1" in present and "In progress: 1" in present and "Late: 1" in present
    assert present.index("Lights on Abay street") < present.index("Bench repaired")  # late first
    assert "Unpublished promise" not in present
    overlay = public.get(f"/overlay/next?mode=promises&key={key}").get_data(as_text=True)
    assert "Done: 1" in overlay and "Lights on Abay street" in overlay and "Unpublished promise" not in overlay
    assert public.get("/overlay/next?mode=promises&key=wrong").status_code == 404
    # the demo itself came first: no earlier broadcast, so no such section
    assert "last-promises" not in public.get("/present/demo").get_data(as_text=True)
    assert "Bench repaired" not in public.get(f"/overlay/next?key={key}").get_data(as_text=True)


def test_promises_of_a_broadcast_come_in_stream_order_for_the_report(app):
    late_in_stream = make_promise(app, text="said later")
    early = make_promise(app, text="said first")
    unknown = make_promise(app, text="moment unknown")
    with app.app_context():
        db.session.get(Promise, late_in_stream).stream_offset = 1800
        db.session.get(Promise, early).stream_offset = 60
        db.session.commit()
        assert [p.id for p in promises.promises_of_broadcast(intake.get_broadcast("demo"))] == [
            early, late_in_stream, unknown]


@pytest.mark.parametrize("value, seconds", [("12:34", 754), ("1:02:03", 3723), ("0", 0), ("", None), (90, 90)])
def test_moments_in_the_stream_parse_and_format(value, seconds):
    assert promises.parse_offset(value) == seconds
    if seconds:
        assert promises.parse_offset(promises.format_offset(seconds)) == seconds


def test_the_pages_read_in_kazakh_and_russian(app):
    make_promise(app, published=True, status="done", text="Bench repaired")
    public = app.test_client()
    public.get("/lang/kk")
    page = public.get("/roadmap").get_data(as_text=True)
    assert "Эфирде берілген уәделер" in page and "орындалды" in page
    public.get("/lang/ru")
    page = public.get("/roadmap").get_data(as_text=True)
    assert "Обещания, данные в эфире" in page and "выполнено" in page
    head = _client(app, "head")
    head.get("/lang/kk")
    assert "Уәделер" in head.get("/promises").get_data(as_text=True)


def test_a_published_promise_keeps_its_word_an_officer_cannot_rewrite_it(app):
    """Found by a fresh-eyes review: an officer moved a late, published promise's date two years on and
    it showed as planned, with no trace of what had been promised."""
    pid = make_promise(app, department_id=1, due=date.today() - timedelta(days=5), published=True,
                       text="Paved by June")
    officer = _client(app, "officer")
    response = act(officer, app, pid, "edit", text="A survey will be made", department_id="1", due_date="2028-12-31")
    assert response.status_code == 403 and "only by the head or an admin" in response.get_data(as_text=True)
    assert load(app, pid).text == "Paved by June"
    # its department's officer may still correct who is responsible or the moment in the stream
    assert act(officer, app, pid, "edit", text="Paved by June", department_id="1", responsible="ГКП",
               due_date=(date.today() - timedelta(days=5)).isoformat()).status_code == 302
    # the head may change the words; the history keeps what they were, and the audit log says who
    assert act(_client(app, "head"), app, pid, "edit", text="Paved by September", department_id="1",
               due_date="2027-09-01").status_code == 302
    edited = [n for n in load(app, pid).notes if n.kind == "edited"][-1]
    assert edited.detail["changes"]["text"] == ["Paved by June", "Paved by September"]
    assert edited.detail["changes"]["due_date"][1] == "2027-09-01"
    with app.app_context():
        actions = db.session.execute(select(AuditEvent.action).where(AuditEvent.action.like("promise_%"))).scalars().all()
    assert actions.count("promise_edited") == 2


def test_notes_and_evidence_are_audited_and_a_change_must_name_its_version(app):
    pid = make_promise(app)
    head = _client(app, "head")
    assert act(head, app, pid, "note", note="Contractor chosen").status_code == 302
    assert act(head, app, pid, "evidence", evidence_url="https://astana.gov.kz/x", evidence_note="").status_code == 302
    with app.app_context():
        actions = set(db.session.execute(select(AuditEvent.action)).scalars())
    assert {"promise_note", "promise_evidence"} <= actions
    response = head.post(f"/promises/{pid}/note", data={"csrf_token": token(head, f"/promises/{pid}"), "note": "x"})
    assert response.status_code == 400
    assert [n.text for n in load(app, pid).notes if n.kind == "note"] == ["Contractor chosen"]


def test_done_again_with_a_note_keeps_when_it_was_done(app):
    pid = make_promise(app)
    head = _client(app, "head")
    assert act(head, app, pid, "status", status="done").status_code == 302
    done_at = load(app, pid).done_at
    assert act(head, app, pid, "status", status="done", note="Photos added").status_code == 302
    assert load(app, pid).done_at == done_at


# --- withdrawn in the back office (marked by mistake, found after work began) ---------------------------

def test_the_back_office_withdraws_a_promise_marked_by_mistake_with_a_reason_and_can_restore_it(app):
    """The desk may take a promise back only while nobody has worked on it; after that the back office
    withdraws it, with a reason in its history: it leaves the public pages and the report, and is kept."""
    pid = make_promise(app, department_id=1, due=date.today() - timedelta(days=3))
    officer = _client(app, "officer")
    assert act(officer, app, pid, "note", note="Called the contractor").status_code == 302
    # a reason is required
    response = act(officer, app, pid, "withdraw", reason="  ")
    assert response.status_code == 400 and "Say why" in response.get_data(as_text=True)
    assert load(app, pid).status == "planned"
    assert act(officer, app, pid, "withdraw", reason="Marked twice: the same as #1").status_code == 302
    withdrawn = load(app, pid)
    assert withdrawn.status == "withdrawn" and not withdrawn.published
    assert [(n.kind, n.text) for n in withdrawn.notes][-1] == ("withdrawn", "Marked twice: the same as #1")
    with app.app_context():
        assert promises.state_of(db.session.get(Promise, pid)) == "withdrawn"  # never "late"
        assert pid not in [p.id for p in promises.list_promises(User.query.filter_by(username="head").one(), "late")]
        assert [p.id for p in promises.list_promises(User.query.filter_by(username="head").one(), "withdrawn")] == [pid]
        assert pid not in [p.id for p in promises.promises_of_broadcast(intake.get_broadcast("demo"))]
        assert db.session.execute(select(AuditEvent).where(AuditEvent.action == "promise_withdrawn")).scalar_one()
    page = officer.get(f"/promises/{pid}").get_data(as_text=True)
    assert "Marked twice: the same as #1" in page and "withdrawn" in page
    # withdrawn twice changes nothing; it cannot be published while withdrawn
    assert act(officer, app, pid, "withdraw", reason="again").status_code == 302
    assert [n.kind for n in load(app, pid).notes].count("withdrawn") == 1
    response = act(_client(app, "head"), app, pid, "publish")
    assert response.status_code == 409 and not load(app, pid).published
    # choosing a status restores it (unpublished: publishing again is deliberate)
    assert act(officer, app, pid, "status", status="in_progress").status_code == 302
    restored = load(app, pid)
    assert restored.status == "in_progress" and not restored.published


def test_a_published_promise_is_withdrawn_only_by_the_head_or_an_admin_and_leaves_the_public_pages(app):
    pid = make_promise(app, department_id=1, text="The lights on Abay will be fixed")
    assert act(_client(app, "head"), app, pid, "publish").status_code == 302
    assert "The lights on Abay will be fixed" in app.test_client().get("/roadmap").get_data(as_text=True)
    officer = _client(app, "officer")
    response = act(officer, app, pid, "withdraw", reason="Not what was said on air")
    assert response.status_code == 403 and load(app, pid).status == "planned" and load(app, pid).published
    assert act(_client(app, "head"), app, pid, "withdraw", reason="Not what was said on air").status_code == 302
    assert load(app, pid).status == "withdrawn" and not load(app, pid).published
    assert "The lights on Abay will be fixed" not in app.test_client().get("/roadmap").get_data(as_text=True)
    # once published, restoring it is the head's or an admin's word too
    assert act(officer, app, pid, "status", status="planned").status_code == 403
    assert load(app, pid).status == "withdrawn"

