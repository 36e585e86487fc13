"""The desk of a long broadcast, in pages (issue 27): the moderator's snapshot carries each column's first
cards and every status's count, `desk_page` continues a column in its order to the end, and every change
names the status its question had, so a desk keeps its counts for questions it does not hold."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import insert, select

from companion.extensions import db
from companion.models import Broadcast, Question
from companion.services.desk import PAGE

from .test_sockets import act, ask, latest, received

# more than a page in each paged column; votes with many ties, so a page can end inside a tie
SEEDED = {"pending": 2 * PAGE + 117, "approved": PAGE + 41, "queued": 12, "on_air": 1, "answered": PAGE + 5,
          "rejected": 30, "merged": 4}


def seed(app, counts=SEEDED, slug="demo") -> list[int]:
    with app.app_context():
        broadcast = db.session.execute(select(Broadcast).where(Broadcast.slug == slug)).scalar_one()
        rows, i = [], 0
        for status, n in counts.items():
            for _ in range(n):
                i += 1
                rows.append({"broadcast_id": broadcast.id, "text": f"Seeded {status} question {i}", "client_id": f"seed-{slug}-{i}",
                             "status": status, "votes": (i * 7) % 5, "position": i if status == "queued" else None,
                             "language": "ru"})
        rows.sort(key=lambda r: hash(r["client_id"]))  # the statuses interleaved in id order, as a real broadcast's
        db.session.execute(insert(Question), rows)
        db.session.commit()
        return list(db.session.execute(select(Question.id).where(Question.broadcast_id == broadcast.id)).scalars())


def column_ids(app, statuses, order_by) -> list[int]:
    with app.app_context():
        return list(db.session.execute(select(Question.id).where(Question.status.in_(statuses))
                                       .order_by(*order_by)).scalars())


def follow(mod, column, order, cursor) -> list[int]:
    """Every page of a column after the snapshot's, as the desk's "show more" asks for them."""
    ids = []
    while cursor is not None:
        ack = mod.emit("desk_page", {"column": column, "order": order, "cursor": cursor}, namespace="/staff", callback=True)
        assert ack["ok"], ack
        assert len(ack["questions"]) <= PAGE
        ids += [q["id"] for q in ack["questions"]]
        cursor = ack["cursor"]
    return ids


def test_a_long_broadcast_opens_with_each_columns_first_pages_and_every_count(app, staff_socket):
    seed(app)
    mod = staff_socket("mod")
    snapshot = mod.emit("get_snapshot", {}, namespace="/staff", callback=True)
    assert snapshot["counts"] == {"submitted": 0, "deferred": 0, **SEEDED}
    assert snapshot["columns"]["pending"] == "incoming" and snapshot["columns"]["merged"] == "done"
    held = {q["id"]: q for q in snapshot["questions"]}
    by_status = {}
    for q in held.values():
        by_status[q["status"]] = by_status.get(q["status"], 0) + 1
    # Incoming: both of its ends; Approved: the most voted page; the queue and the air whole; Done: the newest page
    assert by_status["pending"] == 2 * PAGE and by_status["approved"] == PAGE
    assert by_status["queued"] == 12 and by_status["on_air"] == 1
    assert by_status.get("answered", 0) + by_status.get("rejected", 0) + by_status.get("merged", 0) == PAGE
    pending = column_ids(app, ["pending"], [Question.id])
    assert {i for i, q in held.items() if q["status"] == "pending"} == set(pending[:PAGE] + pending[-PAGE:])
    pages = snapshot["pages"]
    assert pages["incoming"] == {"newest": [pending[-PAGE]], "oldest": [pending[PAGE - 1]]}
    assert pages["queue"] == {"position": None} and pages["onair"] == {"id": None}
    assert pages["approved"]["votes"] is not None and pages["done"]["newest"] is not None
    assert len(snapshot["questions"]) < 5 * PAGE


def test_pages_continue_each_column_in_its_order_to_its_end(app, staff_socket):
    seed(app)
    mod = staff_socket("mod")
    snapshot = mod.emit("get_snapshot", {}, namespace="/staff", callback=True)
    pages = snapshot["pages"]
    held = {q["id"]: q for q in snapshot["questions"]}
    pending = column_ids(app, ["pending"], [Question.id])
    newest = [i for i in sorted(held, reverse=True) if held[i]["status"] == "pending"][:PAGE]
    assert newest + follow(mod, "incoming", "newest", pages["incoming"]["newest"]) == pending[::-1]
    oldest = sorted(i for i in held if held[i]["status"] == "pending")[:PAGE]
    assert oldest + follow(mod, "incoming", "oldest", pages["incoming"]["oldest"]) == pending
    approved = column_ids(app, ["approved"], [Question.votes.desc(), Question.id])
    first = sorted((i for i in held if held[i]["status"] == "approved"), key=lambda i: (-held[i]["votes"], i))
    assert first + follow(mod, "approved", "votes", pages["approved"]["votes"]) == approved
    done = column_ids(app, ["answered", "rejected", "merged"], [Question.id.desc()])
    first = sorted((i for i in held if held[i]["column"] == "done"), reverse=True)
    assert first + follow(mod, "done", "newest", pages["done"]["newest"]) == done


def test_a_broadcast_of_a_few_hundred_arrives_whole(app, staff_socket):
    ids = seed(app, {"pending": 40, "approved": 30, "answered": 20})
    mod = staff_socket("mod")
    snapshot = mod.emit("get_snapshot", {}, namespace="/staff", callback=True)
    assert sorted(q["id"] for q in snapshot["questions"]) == sorted(ids)
    assert all(c is None for orders in snapshot["pages"].values() for c in orders.values())


@pytest.mark.parametrize("bad", [
    {"column": "incoming", "order": "votes"}, {"column": "nope", "order": "newest"}, {"column": ["incoming"]},
    {"column": "incoming", "order": "newest", "cursor": "5"}, {"column": "incoming", "order": "newest", "cursor": [True]},
    {"column": "incoming", "order": "newest", "cursor": [1.5]}, {"column": "incoming", "order": "newest", "cursor": [2 ** 70]},
    {"column": "approved", "order": "votes", "cursor": [3]}, {"column": "incoming", "order": "newest", "cursor": [[1]]},
    {"column": "incoming", "order": "newest", "cursor": {"id": 1}}, "incoming", None,
])
def test_a_malformed_page_request_gets_a_clear_error(app, staff_socket, bad):
    mod = staff_socket("mod")
    ack = mod.emit("desk_page", bad, namespace="/staff", callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid", ack  # None: no column named
    assert mod.is_connected("/staff")


def test_only_moderators_read_pages_or_a_question_by_number(app, staff_socket, viewer_socket):
    ids = seed(app, {"pending": 3})
    speaker, viewer = staff_socket("speaker"), viewer_socket()
    for event, data in (("desk_page", {"column": "incoming", "order": "newest"}),
                        ("desk_question", {"id": ids[0]})):
        assert speaker.emit(event, data, namespace="/staff", callback=True)["error"]["code"] == "forbidden"
        assert viewer.emit(event, data, namespace="/", callback=True)["error"]["code"] == "forbidden"


def test_a_question_by_number_is_of_this_broadcast_only(app, staff_socket):
    ids = seed(app, {"pending": 2})
    with app.app_context():
        other = Broadcast(slug="other", title="Other")
        db.session.add(other)
        db.session.commit()
    elsewhere = seed(app, {"pending": 1}, slug="other")
    mod = staff_socket("mod")
    ack = mod.emit("desk_question", {"id": ids[1]}, namespace="/staff", callback=True)
    assert ack["ok"] and ack["question"]["id"] == ids[1] and ack["question"]["text"].startswith("Seeded")
    for wrong in (elsewhere[0], 10 ** 9, "x", -1, None):
        ack = mod.emit("desk_question", {"id": wrong}, namespace="/staff", callback=True)
        assert ack["ok"] is False and ack["error"]["code"] == "not_found"


def test_every_change_names_the_status_its_question_had(app, staff_socket, viewer_socket):
    mod = staff_socket("mod")
    viewer = viewer_socket()
    ask(viewer, text="A new question about the bus")
    [arrived] = received(mod, "desk_changed", "/staff")
    q = arrived["questions"][0]
    assert q["was"] is None and q["status"] == "pending"  # new to the desk
    assert act(mod, "approve", q)["ok"]
    [q] = latest(mod).values()
    assert (q["was"], q["status"]) == ("pending", "approved")
    assert mod.emit("edit_question", {"id": q["id"], "version": q["version"], "text": "Edited: the bus"},
                    namespace="/staff", callback=True)["ok"]
    [q] = latest(mod).values()
    assert (q["was"], q["status"]) == ("approved", "approved")


def test_the_similar_questions_come_with_themselves(app, staff_socket):
    ids = seed(app, {"pending": 3})
    mod = staff_socket("mod")
    with app.app_context():
        db.session.execute(Question.__table__.update().values(text="Когда дадут отопление в доме Кенесары 40?"))
        db.session.commit()
    ack = mod.emit("similar_questions", {"id": ids[0]}, namespace="/staff", callback=True)
    assert ack["ok"] and {s["id"] for s in ack["similar"]} == set(ids[1:])
    assert {q["id"] for q in ack["questions"]} == set(ids[1:]) and all("text" in q for q in ack["questions"])


def test_one_socket_asking_for_pages_and_snapshots_in_a_loop_is_refused_not_served(app, staff_socket):
    """A page of a long broadcast is tens of milliseconds of the server's work and a snapshot hundreds: one
    moderator socket asking twenty times a second held up every other moderator for seconds."""
    seed(app, {"pending": 2 * PAGE + 10})
    mod, other = staff_socket("mod"), staff_socket("mod2")
    cursor = mod.emit("get_snapshot", {}, namespace="/staff", callback=True)["pages"]["incoming"]["newest"]
    # 40 pages ask for 200 tokens: a burst of 40 (the snapshot took 10) and 20 a second come back, so unless
    # they took over 8 seconds some are refused
    started = time.monotonic()
    answers = [mod.emit("desk_page", {"column": "incoming", "order": "newest", "cursor": cursor}, namespace="/staff",
                        callback=True) for _ in range(40)]
    refused = [a for a in answers if not a["ok"]]
    assert refused or time.monotonic() - started > 8
    assert all(a["error"]["code"] == "rate_limited" for a in refused)
    assert mod.is_connected("/staff")  # refused, not cut off
    time.sleep(0.1)  # two tokens back
    assert mod.emit("get_prompter", {}, namespace="/staff", callback=True)["ok"]  # a cheap event still goes
    assert other.emit("get_snapshot", {}, namespace="/staff", callback=True)["ok"]  # the allowance is per connection
