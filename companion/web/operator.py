"""The phone operator's screen (/operator): find a caller's appeals, take a call, read a status back, see the queue."""
from __future__ import annotations

import uuid

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..extensions import db
from ..models import QuestionStatus
from .guard import permission_required
from ..presenters import appeal_status
from ..presenters import talon as talon_view
from ..realtime.emit import publish
from ..services import desk, operator
from ..services.language import current_language
from ..errors import ServiceError

bp = Blueprint("operator", __name__, url_prefix="/operator")


def _page(status: int = 200, *, errors: dict | None = None, form: dict | None = None, lookup_error: str = "",
          phone: str = "", found=None, code: str = "", by_number=None, number_error: str = "", focus: str = "o-phone"):
    locale = current_language()
    return render_template(
        "operator.html", errors=errors or {}, form=form or {}, phone=phone, found=found, code=code,
        by_number=by_number, by_number_view=appeal_status(by_number) if by_number is not None else None,
        by_number_talon=talon_view(by_number) if by_number is not None else None, lookup_error=lookup_error,
        number_error=number_error, queue=operator.live_queue(), districts=operator.district_suggestions(),
        categories=[(c.id, c.name(locale)) for c in desk.categories()], focus=focus,
        new_client_id=uuid.uuid4().hex), status


@bp.get("")
@permission_required("operate")
def index():
    """The screen, clean for the next call."""
    return _page()


# The lookups are posted, never put in the address: a caller's number or tracking number in a URL would
# land in the access logs of nginx and the server, and in the browser's history.
def _message(exc: ServiceError) -> str:
    return " ".join(str(v) for v in exc.fields.values()) or str(exc.message)


def _refused(exc: ServiceError, **page):
    """The screen again with a refusal; a limit's 429 says when to try again (Retry-After)."""
    body, status = _page(exc.status, **page)
    headers = {"Retry-After": str(exc.detail["retry_after"])} if "retry_after" in exc.detail else {}
    return body, status, headers


@bp.post("/lookup")
@permission_required("operate")
def lookup():
    """The caller's appeals by the number they call from (counted and audited)."""
    phone_typed = (request.form.get("phone") or "").strip()
    if not phone_typed:
        return _page(400, lookup_error=_("Enter the caller's phone number."), focus="o-phone")
    try:
        phone, found = operator.appeals_of_caller(phone_typed, actor=current_user)
    except ServiceError as exc:
        db.session.rollback()
        return _refused(exc, lookup_error=_message(exc), phone=phone_typed, form={"phone": phone_typed})
    return _page(phone=phone, found=found, form={"phone": phone}, focus="o-name")


@bp.post("/status")
@permission_required("operate")
def status():
    """One appeal's status by its tracking number, to read to the caller (counted and audited)."""
    code = (request.form.get("code") or "").strip()
    try:
        by_number = operator.appeal_by_number(code, actor=current_user)
    except ServiceError as exc:
        db.session.rollback()
        return _refused(exc, number_error=_message(exc), code=code, focus="o-code")
    return _page(code=code.upper(), by_number=by_number, focus="o-code")


@bp.post("/calls")
@permission_required("operate")
def take_call():
    """Take the call: the question for the live broadcast, or an appeal for the back office; the number to read out."""
    form = request.form
    try:
        appeal, question, change = operator.take_call(form, actor=current_user, default_language=current_language())
    except ServiceError as exc:
        db.session.rollback()
        return _refused(exc, errors=exc.fields or {"form": exc.message}, form=form.to_dict(),
                        phone=form.get("phone", ""), focus="o-text")
    publish(change)
    if question is not None:
        where = (_("The question waits for the moderators, then may be put to the akim on air.")
                 if question.status == QuestionStatus.PENDING else
                 _("The question is among the broadcast's questions: the moderators decide whether it is put on air."))
    else:
        where = _("The appeal goes to the back office.")
    flash(_("Registered: %(code)s. Read the number to the caller.", code=appeal.tracking_code) + " " + where, "ok")
    return redirect(url_for("operator.index"))  # a clean screen for the next call: never the last caller's number


@bp.get("/queue")
@permission_required("operate")
def queue():
    """The live queue, read-only, for the screen to refresh (what the speaker will take next)."""
    live = operator.live_queue()
    if live is None:
        return jsonify(live=False)
    b = live["broadcast"]
    locale = current_language()
    item = lambda q: {"code": q.tracking_code, "text": q.text[:300], "status": q.status}  # noqa: E731
    return jsonify(live=True, title=b.title(locale), on_air=item(live["on_air"]) if live["on_air"] else None,
                   queued=[item(q) for q in live["queued"]], pending=live["pending"], approved=live["approved"])


@bp.post("/suggest")
@permission_required("operate")
def suggest():
    """The category the question's words suggest (JSON), as the desk suggests one."""
    data = request.get_json(silent=True)
    text = data.get("text") if isinstance(data, dict) else None
    return jsonify(category_id=operator.suggested_category(text))


@bp.errorhandler(ServiceError)
def refused(exc: ServiceError):
    """A refusal outside a form, as an error page with its status."""
    db.session.rollback()
    return render_template("error.html", code=exc.status, message=exc.message), exc.status
