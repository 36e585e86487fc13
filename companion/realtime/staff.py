"""Socket handlers for staff (namespace "/staff"): moderators, speakers, admins."""
from __future__ import annotations

from flask import session
from flask_login import current_user
from flask_socketio import ConnectionRefusedError as Refused, join_room

from ..extensions import socketio
from ..models import Channel
from ..permissions import can
from ..presenters import backstage_state, broadcast_settings, prompter_state, staff_question
from ..services import backstage, blocking, desk, intake, moderation, promises, similarity
from ..services.language import current_language
from ..errors import NotFound
from ..services.fields import parse_id
from .common import acknowledged, authorised, connect_broadcast, current_broadcast, payload
from .emit import STAFF_NS, publish, room
from .sessions import login_room


@socketio.on("connect", namespace=STAFF_NS)
def staff_connect(auth=None):
    """Only signed-in staff connect; moderators also join the moderation room."""
    if not can(current_user, "prompt"):
        raise Refused("unauthorized", {"code": "unauthorized"})
    broadcast = connect_broadcast(auth)
    join_room(login_room(session["login_id"]))  # so a logout or a role change can close this socket
    join_room(room("prompter", broadcast.slug))
    if can(current_user, "moderate"):
        join_room(room("mod", broadcast.slug))


@socketio.on("get_snapshot", namespace=STAFF_NS)
@acknowledged
@authorised("moderate")
def staff_snapshot(data=None):
    """Everything the moderator screen shows, with the version it corresponds to."""
    broadcast = current_broadcast()
    locale = current_language()
    questions, pages = desk.snapshot_questions(broadcast)
    counts = desk.status_counts(broadcast)
    return {"version": broadcast.version, "settings": broadcast_settings(broadcast),
            "backstage": backstage_state(broadcast, backstage.latest_message(broadcast)),
            "questions": [staff_question(q) for q in questions],
            # each column's first pages (the rest on demand: desk_page) and what the columns hold in all
            "pages": pages, "counts": counts, "columns": {status: desk.status_column(status) for status in counts},
            "categories": [{"id": c.id, "name": c.name(locale)} for c in desk.categories()]}


@socketio.on("desk_page", namespace=STAFF_NS)
@acknowledged
@authorised("moderate")
def staff_desk_page(data=None):
    """The next page of a desk column: {column, order, cursor} (the cursor a snapshot or the last page gave)."""
    broadcast = current_broadcast()
    data = payload(data)
    questions, cursor = desk.page(broadcast, data.get("column"), data.get("order"), data.get("cursor"))
    # and those merged into the page's questions (the desk lists them under their target, to unmerge)
    held = {q.id for q in questions}
    questions += [q for q in desk.merged_into(broadcast, list(held)) if q.id not in held]
    # no counts: the desk keeps them from the snapshot and each change's `was` (a recount is 16 ms at 150,000)
    return {"version": broadcast.version, "questions": [staff_question(q) for q in questions], "cursor": cursor}


@socketio.on("desk_question", namespace=STAFF_NS)
@acknowledged
@authorised("moderate")
def staff_desk_question(data=None):
    """One question of this broadcast by its number (a merge's target typed by number, not among those loaded)."""
    question = moderation.get_question(current_broadcast(), payload(data).get("id"))
    return {"question": staff_question(question)}


@socketio.on("desk_questions", namespace=STAFF_NS)
@acknowledged
@authorised("moderate")
def staff_desk_questions(data=None):
    """These questions of this broadcast, by number ({ids}: at most a page; the others are left out): those
    the votes moved into the part of Approved the desk holds, whose cards it does not have."""
    return {"questions": [staff_question(q) for q in desk.questions_by_id(current_broadcast(),
                                                                          desk.question_ids(payload(data).get("ids")))]}


@socketio.on("get_prompter", namespace=STAFF_NS)
@acknowledged
@authorised("prompt")
def staff_prompter(data=None):
    """The teleprompter's state now."""
    broadcast = current_broadcast()
    on_air, upcoming = desk.prompter_questions(broadcast)
    return prompter_state(broadcast, on_air, upcoming, backstage.latest_message(broadcast))


def _ids(value, limit: int = 20_000) -> list[int]:
    """A list of question ids from a screen (at most `limit`); what is not an id is left out."""
    if not isinstance(value, list):
        return []
    return [i for i in map(parse_id, value[:limit]) if i is not None]


@socketio.on("desk_insights", namespace=STAFF_NS)
@acknowledged
@authorised("moderate")
def staff_desk_insights(data=None):
    """Likely duplicate groups and suggested categories for these questions (the desk asks after new arrivals)."""
    broadcast = current_broadcast()
    data = payload(data)
    insights = similarity.desk_insights(broadcast, None if data.get("all") is True else _ids(data.get("ids")),
                                        desk.categories())
    return {"groups": {str(k): v for k, v in insights["groups"].items()},
            "suggestions": {str(k): v for k, v in insights["suggestions"].items()}}


@socketio.on("similar_questions", namespace=STAFF_NS)
@acknowledged
@authorised("moderate")
def staff_similar_questions(data=None):
    """The questions most like this one, best first, with a score from 0 to 1."""
    broadcast = current_broadcast()
    question = moderation.get_question(broadcast, payload(data).get("id"))
    similar = similarity.similar_questions(broadcast, question, limit=8)
    # the questions themselves too: on a long broadcast the desk holds only the columns' first pages
    return {"id": question.id, "similar": [{"id": qid, "score": score} for qid, score in similar],
            "questions": [staff_question(q) for q in desk.questions_by_id(broadcast, [qid for qid, _ in similar])]}


@socketio.on("backstage_read", namespace=STAFF_NS)
@acknowledged
@authorised("prompt")
def staff_backstage_read(data=None):
    """The teleprompter showed a backstage message: the moderators get the read receipt."""
    broadcast = current_broadcast()
    change = backstage.mark_read(broadcast, payload(data).get("id"), actor=current_user)
    publish(change)
    return {"version": broadcast.version}


def _register(event: str, call) -> None:
    """One moderator event: check the role, call the service, publish the Change, ack the new version."""
    @acknowledged
    @authorised("moderate")
    def handler(data=None):
        change = call(current_broadcast(), payload(data))
        publish(change)
        return {"version": change.broadcast.version}
    handler.__name__ = f"staff_{event}"
    socketio.on_event(event, handler, namespace=STAFF_NS)


def _transition(action: str):
    return lambda b, d: moderation.transition(b, d.get("id"), action, actor=current_user, version=d.get("version"),
                                              ground=d.get("ground"), note=d.get("note"),
                                              finish_current=d.get("finish_current"),
                                              confirmed=d.get("confirm") is True, current_id=d.get("current_id"))


for _action in moderation.TRANSITIONS:
    _register(_action, _transition(_action))

_register("edit_question", lambda b, d: moderation.edit_question(
    b, d.get("id"), d.get("text"), actor=current_user, version=d.get("version")))
_register("merge_question", lambda b, d: moderation.merge_question(
    b, d.get("id"), d.get("target_id"), actor=current_user, version=d.get("version")))
_register("unmerge_question", lambda b, d: moderation.unmerge_question(
    b, d.get("id"), actor=current_user, version=d.get("version")))
_register("categorize_question", lambda b, d: moderation.categorize_question(
    b, d.get("id"), d.get("category_id"), actor=current_user, version=d.get("version")))
_register("flag_follow_up", lambda b, d: moderation.flag_follow_up(
    b, d.get("id"), d.get("on") is True, actor=current_user, version=d.get("version")))
_register("forward_immediately", lambda b, d: moderation.forward_immediately(
    b, d.get("id"), d.get("forwarded_to"), actor=current_user, version=d.get("version")))
_register("send_backstage", lambda b, d: backstage.send_message(b, d.get("text"), actor=current_user))
_register("set_countdown", lambda b, d: backstage.set_countdown(b, d.get("seconds"), actor=current_user))
_register("reorder_queue", lambda b, d: moderation.reorder_queue(b, d.get("order") or [], actor=current_user))
_register("update_settings", lambda b, d: moderation.update_settings(b, payload(d.get("settings")),
                                                                     actor=current_user))


@socketio.on("merge_group", namespace=STAFF_NS)
@acknowledged
@authorised("moderate")
def staff_merge_group(data=None):
    """Merge a group of likely duplicates into one question, in one change."""
    data = payload(data)
    change, skipped = moderation.merge_group(current_broadcast(), data.get("target_id"), data.get("sources"),
                                             actor=current_user)
    publish(change)
    return {"version": change.broadcast.version, "merged": len(change.questions) - 1, "skipped": skipped}


@socketio.on("add_phone_question", namespace=STAFF_NS)
@acknowledged
@authorised("moderate")
def staff_phone_question(data=None):
    """A moderator types in a phone caller's question (channel "phone", approved at once)."""
    broadcast = current_broadcast()
    question, change = intake.submit_question(broadcast, payload(data), channel=Channel.PHONE, approved=True,
                                              default_language=current_language(), actor=current_user)
    publish(change)
    return {"created": change is not None, "question": staff_question(question)}


@socketio.on("mark_promise", namespace=STAFF_NS)
@acknowledged
@authorised("moderate")
def staff_mark_promise(data=None):
    """A moderator marks a promise the akim made on air (what, who, by when; the moment is recorded)."""
    promise = promises.mark_promise(current_broadcast(), payload(data), actor=current_user)
    return {"promise": {"id": promise.id, "text": promise.text, "due_date": promise.due_date.isoformat(),
                        "stream_offset": promise.stream_offset,
                        "moment": promises.format_offset(promise.stream_offset)}}


@socketio.on("withdraw_promise", namespace=STAFF_NS)
@acknowledged
@authorised("moderate")
def staff_withdraw_promise(data=None):
    """Take back a promise just marked by mistake (the desk's Undo), while nobody has worked on it since."""
    promises.withdraw_marked(current_broadcast(), payload(data).get("id"), actor=current_user)
    return {"withdrawn": True}

@socketio.on("block_sender", namespace=STAFF_NS)
@acknowledged
@authorised("block")
def staff_block_sender(data=None):
    """Block the sender of a question of this broadcast on every channel (audited)."""
    data = payload(data)
    broadcast = current_broadcast()
    qid = parse_id(data.get("id"))
    if qid is None or not desk.belongs(broadcast, qid):
        raise NotFound()
    rows = blocking.block_question_sender(qid, actor=current_user, reason=data.get("reason") or "")
    return {"blocked": len(rows)}


@socketio.on("*", namespace=STAFF_NS)
@acknowledged
def staff_other(event, data=None):
    """Unknown staff events get a clear error."""
    raise NotFound()
