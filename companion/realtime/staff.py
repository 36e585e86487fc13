"""Socket handlers for staff (namespace "/staff"): moderators, speakers, admins."""
from __future__ import annotations

from flask import current_app
from flask_babel import get_locale
from flask_login import current_user
from flask_socketio import join_room

from ..extensions import socketio
from ..models import Channel
from ..permissions import can
from ..presenters import broadcast_settings, prompter_state, staff_question
from ..services import desk, intake, moderation
from ..services.errors import NotFound
from .common import acknowledged, authorised, connect_broadcast, current_broadcast, payload
from .emit import STAFF_NS, publish, room


@socketio.on("connect", namespace=STAFF_NS)
def staff_connect(auth=None):
    """Only signed-in staff connect; moderators also join the moderation room."""
    if not can(current_user, "prompt"):
        raise ConnectionRefusedError("unauthorized")
    broadcast = connect_broadcast(auth)
    join_room(room("prompter", broadcast.slug))
    if can(current_user, "moderate"):
        join_room(room("mod", broadcast.slug))


@socketio.on("get_snapshot", namespace=STAFF_NS)
@acknowledged
@authorised("moderate")
def staff_snapshot(data=None):
    """Everything the moderator screen shows, with the version it corresponds to."""
    broadcast = current_broadcast()
    locale = str(get_locale() or "kk")
    return {"version": broadcast.version, "settings": broadcast_settings(broadcast),
            "questions": [staff_question(q) for q in desk.all_questions(broadcast)],
            "categories": [{"id": c.id, "name": c.name(locale)} for c in desk.categories()]}


@socketio.on("get_prompter", namespace=STAFF_NS)
@acknowledged
@authorised("prompt")
def staff_prompter(data=None):
    """The teleprompter's state now."""
    broadcast = current_broadcast()
    on_air, upcoming = desk.prompter_questions(broadcast)
    return prompter_state(broadcast, on_air, upcoming)


def _transition_handler(action: str):
    @acknowledged
    @authorised("moderate")
    def handler(data=None):
        data = payload(data)
        change = moderation.transition(current_broadcast(), data.get("id"), action, actor=current_user,
                                       version=data.get("version"), reason=data.get("reason") or "",
                                       finish_current=data.get("finish_current"))
        publish(change)
        return {"version": change.broadcast.version}
    handler.__name__ = f"staff_{action}"
    return handler


for _action in moderation.TRANSITIONS:
    socketio.on_event(_action, _transition_handler(_action), namespace=STAFF_NS)


@socketio.on("edit_question", namespace=STAFF_NS)
@acknowledged
@authorised("moderate")
def staff_edit(data=None):
    """Reword a question (the original is kept)."""
    data = payload(data)
    change = moderation.edit_question(current_broadcast(), data.get("id"), data.get("text"), actor=current_user,
                                      version=data.get("version"),
                                      max_length=current_app.config["QUESTION_MAX_LENGTH"])
    publish(change)
    return {"version": change.broadcast.version}


@socketio.on("merge_question", namespace=STAFF_NS)
@acknowledged
@authorised("moderate")
def staff_merge(data=None):
    """Merge a duplicate into another question."""
    data = payload(data)
    change = moderation.merge_question(current_broadcast(), data.get("id"), data.get("target_id"),
                                       actor=current_user, version=data.get("version"))
    publish(change)
    return {"version": change.broadcast.version}


@socketio.on("categorize_question", namespace=STAFF_NS)
@acknowledged
@authorised("moderate")
def staff_categorize(data=None):
    """Tag a question with a category."""
    data = payload(data)
    change = moderation.categorize_question(current_broadcast(), data.get("id"), data.get("category_id"),
                                            actor=current_user, version=data.get("version"))
    publish(change)
    return {"version": change.broadcast.version}


@socketio.on("reorder_queue", namespace=STAFF_NS)
@acknowledged
@authorised("moderate")
def staff_reorder(data=None):
    """Put the speaker's queue in a new order."""
    data = payload(data)
    change = moderation.reorder_queue(current_broadcast(), data.get("order") or [], actor=current_user)
    publish(change)
    return {"version": change.broadcast.version}


@socketio.on("update_settings", namespace=STAFF_NS)
@acknowledged
@authorised("moderate")
def staff_settings(data=None):
    """Change the broadcast's live settings."""
    data = payload(data)
    change = moderation.update_settings(current_broadcast(), payload(data.get("settings")), actor=current_user)
    publish(change)
    return {"version": change.broadcast.version}


@socketio.on("add_phone_question", namespace=STAFF_NS)
@acknowledged
@authorised("moderate")
def staff_phone_question(data=None):
    """A moderator types in a phone caller's question (channel "phone", approved at once)."""
    broadcast = current_broadcast()
    question, change = intake.submit_question(broadcast, payload(data), channel=Channel.PHONE, approved=True,
                                              default_language=str(get_locale() or "kk"), actor=current_user)
    publish(change)
    return {"created": change is not None, "question": staff_question(question)}


@socketio.on("*", namespace=STAFF_NS)
@acknowledged
def staff_other(event, data=None):
    """Unknown staff events get a clear error."""
    raise NotFound()
