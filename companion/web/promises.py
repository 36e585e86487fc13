"""The promises back office: the list (late first) and one promise's page (status, notes, evidence, publishing)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..extensions import db
from .guard import permission_required
from ..services import appeals, deadlines, promises
from ..errors import ServiceError

bp = Blueprint("promises", __name__, url_prefix="/promises")

# action name in the form -> service call
ACTIONS = {
    "status": lambda p, f, u: promises.set_status(p, f.get("status"), actor=u, note=f.get("note", "")),
    "note": lambda p, f, u: promises.add_note(p, f.get("note", ""), actor=u),
    "evidence": lambda p, f, u: promises.set_evidence(p, f.get("evidence_url", ""), f.get("evidence_note", ""), actor=u),
    "publish": lambda p, f, u: promises.set_published(p, True, actor=u),
    "unpublish": lambda p, f, u: promises.set_published(p, False, actor=u),
    "edit": lambda p, f, u: promises.edit_promise(p, f, actor=u),
    "withdraw": lambda p, f, u: promises.withdraw(p, f.get("reason", ""), actor=u),
}


def _labels() -> dict:
    return {"state_labels": promises.STATE_LABELS, "status_choices": promises.STATUS_CHOICES,
            "note_labels": promises.NOTE_LABELS, "state_of": promises.state_of, "moment": promises.format_offset,
            "today": deadlines.local_date()}


@bp.get("")
@permission_required("promises")
def index():
    """The promises the user may manage, late and due first, with a filter by state."""
    state = request.args.get("state") or None
    try:
        rows = promises.list_promises(current_user, state)
    except ServiceError as exc:
        return render_template("promises/list.html", rows=[], state=None, error=exc.fields.get("state"),
                               **_labels()), 400
    return render_template("promises/list.html", rows=rows, state=state, error=None, **_labels())


def _detail(promise, status: int = 200):
    return render_template("promises/detail.html", p=promise, departments=appeals.departments(), **_labels()), status


@bp.get("/<int:promise_id>")
@permission_required("promises")
def detail(promise_id: int):
    """One promise: what, who, by when, the moment in the stream, its history, and the actions."""
    return _detail(promises.get_promise(promise_id, user=current_user))


@bp.post("/<int:promise_id>/<action>")
@permission_required("promises")
def act(promise_id: int, action: str):
    """Run one action on the promise; a refusal re-shows the page with the reason."""
    if action not in ACTIONS:
        abort(404)
    try:
        promise = promises.get_promise(promise_id, user=current_user, version=request.form.get("version"), changing=True)
        ACTIONS[action](promise, request.form, current_user)
    except ServiceError as exc:
        db.session.rollback()
        db.session.expire_all()
        flash(str(exc.message) + "".join(f" {v}" for v in exc.fields.values()), "error")
        return _detail(promises.get_promise(promise_id, user=current_user), exc.status)
    flash(_("Saved."), "ok")
    return redirect(url_for("promises.detail", promise_id=promise.id))


@bp.errorhandler(ServiceError)
def refused(exc: ServiceError):
    """A refusal outside an action (unknown or another department's promise) as an error page with its status."""
    db.session.rollback()
    return render_template("error.html", code=exc.status, message=exc.message), exc.status
