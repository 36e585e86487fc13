"""The appeals back office: the list with filters, bulk assignment, exports, and one appeal's page."""
from __future__ import annotations

from flask import (Blueprint, Response, abort, current_app, flash, make_response, redirect, render_template, request,
                   stream_with_context, url_for)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from ..extensions import db
from ..permissions import appeal_scope, can
from .guard import permission_required
from ..presenters import talon as talon_view
from ..realtime.emit import publish
from ..services import appeal_list, appeals, blocking, channels, deadlines, desk, moderation, notices, outbox, privacy, topics, wording
from ..services.changes import Change
from ..services.database import stale
from ..services import broadcasts as broadcast_service
from ..errors import ServiceError, ValidationError
from .safety import local_target

bp = Blueprint("appeals", __name__, url_prefix="/appeals")

# action name in the form -> the service call, which commits (a step that tells the applicant writes its notice
# in its transaction: outbox.enqueue_notice; the route only says which are to be given by hand)
ACTIONS = {
    "assign": lambda a, f, u: appeals.assign(a, f.get("department_id"), f.get("officer_id"), actor=u,
                                              note=f.get("note", "")),
    "start": lambda a, f, u: appeals.start(a, actor=u),
    "answer": lambda a, f, u: appeals.answer(a, f.get("answer", ""), actor=u),
    "extend": lambda a, f, u: appeals.extend(a, f.get("due_date", ""), f.get("reason", ""), actor=u),
    "propose_extension": lambda a, f, u: appeals.propose_extension(a, f.get("due_date", ""), f.get("reason", ""),
                                                                    actor=u),
    "approve_extension": lambda a, f, u: appeals.approve_extension(a, actor=u),
    "decline_extension": lambda a, f, u: appeals.decline_extension(a, f.get("note", ""), actor=u),
    "forward": lambda a, f, u: appeals.forward(a, f.get("forwarded_to", ""), f.get("note", ""), actor=u),
    "leave": lambda a, f, u: appeals.leave_without_consideration(a, f.get("ground"), f.get("note", ""), actor=u),
    # the question leaves the live desk too (the route publishes the change)
    "withdraw": lambda a, f, u: moderation.withdraw_appeal(a, actor=u, means=f.get("means", ""), note=f.get("note", "")),
    "record": lambda a, f, u: appeals.set_record(a, f, actor=u),
    "forward_immediately": lambda a, f, u: appeals.forward_immediately(a, f.get("forwarded_to", ""), f.get("note", ""),
                                                                        actor=u),
    "close": lambda a, f, u: appeals.close(a, actor=u),
    "follow_up": lambda a, f, u: appeals.set_follow_up(a, f.get("on") == "1", actor=u),
    "categorize": lambda a, f, u: appeals.categorize(a, f.get("category_id"), actor=u),
    "comment": lambda a, f, u: appeals.add_comment(a, f.get("note", ""), actor=u),
    # a topic the rules suggested (or staff add) confirmed, or one removed (services.topics)
    "topic": lambda a, f, u: topics.choose(a, f.get("topic_id"), f.get("choice"), actor=u),
    # a notice that could not be e-mailed, given by phone, text, letter or in person
    "told": lambda a, f, u: notices.record_told(a, f.get("means"), f.get("note", ""), actor=u),
}


def _choices() -> dict:
    return {"departments": appeals.departments(), "categories": desk.categories(), "officers": appeals.officers(),
            "broadcasts": [b for b, _n in broadcast_service.list_broadcasts()], "statuses": appeals.STATUS_LABELS,
            "channels": appeal_list.CHANNELS, "types": appeals.TYPE_LABELS, "forms": appeals.FORM_LABELS,
            "grounds": wording.GROUND_NAMES, "kinds": appeal_list.KINDS, "topics": topics.all_topics()}


def _list_context(f: appeal_list.AppealFilter) -> dict:
    rows, marker = appeal_list.page(current_user, f)
    total, more = appeal_list.count(current_user, f)
    by_channel, by_channel_more = appeal_list.count_by_channel(current_user, f)
    return {"rows": rows, "next_args": f.args(after=marker) if marker else None, "f": f, "total": total,
            "more": more, "by_channel": by_channel, "by_channel_more": by_channel_more, "today": deadlines.local_date(), "urgency": deadlines.urgency, **_choices()}


@bp.get("")
@permission_required("appeals")
def index():
    """The appeals the user may see, filtered, by due date (overdue first), one keyset page at a time."""
    try:
        f = appeal_list.AppealFilter.from_args(request.args)
    except ValidationError as exc:
        return render_template("appeals/list.html", errors=exc.fields, rows=[], f=appeal_list.AppealFilter(),
                               next_args=None, total=0, more=False, by_channel={}, by_channel_more=False, today=deadlines.local_date(),
                               urgency=deadlines.urgency, **_choices()), 400
    return render_template("appeals/list.html", errors={}, **_list_context(f))


@bp.get("/export.<fmt>")
@permission_required("appeals")
def export(fmt: str):
    """The filtered list as CSV or XLSX, with headers in the interface language."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    locale = str(get_locale())
    try:
        f = appeal_list.AppealFilter.from_args(request.args)
        separator = appeal_list.csv_separator(request.args.get("sep"), locale)
    except ValidationError as exc:
        return render_template("error.html", code=400, message="; ".join(
            f"{k}: {v}" for k, v in exc.fields.items())), 400
    name = f"appeals-{deadlines.local_date().isoformat()}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    if fmt == "csv":
        return Response(stream_with_context(appeal_list.export_csv(current_user, f, locale, separator)),
                        content_type="text/csv; charset=utf-8", headers=headers)
    try:
        data = appeal_list.export_xlsx(current_user, f, locale)
    except appeal_list.ExportBusy:
        response = make_response(render_template("error.html", code=503, message=_(
            "Something went wrong on our side. Please try again in a minute.")), 503)
        response.headers["Retry-After"] = "60"
        return response
    headers["Content-Length"] = str(len(data))
    return Response(_slices(data), headers=headers,
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _slices(data: bytes, size: int = 64 * 1024):
    """The file in slices: the server sends each and lets other connections run in between."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


@bp.post("/assign")
@permission_required("appeals")
def bulk_assign():
    """Assign the ticked appeals to a department (and officer): all or none."""
    ids = request.form.getlist("ids")
    try:
        n = appeals.bulk_assign(ids, request.form.get("department_id"), request.form.get("officer_id"),
                                actor=current_user)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message) + "".join(f" {v}" for v in exc.fields.values()), "error")
    else:
        flash(_("%(n)s appeals assigned.", n=n), "ok")
    back = local_target(request.form.get("back"))
    return redirect(back if back and back.startswith("/appeals") else url_for("appeals.index"))


def _detail(appeal, status: int = 200, typed: tuple[str, dict] | None = None):
    """The appeal's page; `typed` is a refused action and the form it was sent with: its fields show what was
    typed (an answer refused as stale or too long is not lost)."""
    action, values = typed or ("", {})
    tagged = topics.of_appeal(appeal)
    on_it = {row.topic_id for row in tagged if row.state != topics.REMOVED}
    return render_template("appeals/detail.html", appeal=appeal, events=appeal.events, today=deadlines.local_date(),
                           appeal_topics=tagged, addable_topics=[t for t in topics.active_topics() if t.id not in on_it],
                           topic_states=topics.STATE_LABELS,
                           urgency=deadlines.urgency(appeal.due_date, appeal.clock_runs),
                           extension_limit=deadlines.extension_limit(deadlines.local_date(appeal.received_at)),
                           action_labels=appeals.ACTION_LABELS,
                           # the steps the services allow now, so the page offers no step they would refuse
                           allows=lambda action: appeals.allows(appeal, action),
                           withdrawable=appeals.withdrawable(appeal),
                           follow_up_settable=appeals.follow_up_settable(appeal),
                           withdrawal_means=appeals.STAFF_WITHDRAWAL_MEANS,
                           smtp=bool(current_app.config["SMTP_HOST"]), talon=talon_view(appeal),
                           decides_extensions=can(current_user, "decide_extension"),
                           consent_forms=privacy.CONSENT_FORM_LABELS, pending_notices=notices.pending(appeal),
                           notice_means=notices.MEANS, notice_kinds=_notice_kinds(),
                           chat_notices=outbox.of_appeal(appeal), outbox_states=OUTBOX_STATES,
                           sender_blocked=can(current_user, "block") and blocking.sender_blocked(appeal=appeal),
                           kept_photos={f.platform_id: f for f in channels.files_of(appeal)},
                           typed=lambda form, name: values.get(name, "") if form == action else "",
                           **_choices()), status


OUTBOX_STATES = {"pending": _l("waiting"), "sent": _l("sent"), "failed": _l("will retry"), "dead": _l("not delivered"),
                 "canceled": _l("cancelled")}


def _notice_kinds() -> dict:
    return {**notices.KIND_LABELS, "register": appeals.ACTION_LABELS["register"], "report": _l("broadcast report (e-mail)")}


@bp.get("/undelivered")
@permission_required("appeals")
def undelivered():
    """Notices a messaging channel would not take (dead letters): staff tell those applicants another way."""
    visible = outbox.dead_letters(appeal_scope(current_user))
    return render_template("appeals/undelivered.html", chat_notices=visible, with_appeal=True,
                           notice_kinds=_notice_kinds(), outbox_states=OUTBOX_STATES)


@bp.get("/<int:appeal_id>")
@permission_required("appeals")
def detail(appeal_id: int):
    """One appeal: its text, the applicant's contact (staff only), the history, and the actions its status allows."""
    return _detail(appeals.get_appeal(appeal_id, user=current_user))


@bp.get("/<int:appeal_id>/files/<int:file_id>")
@permission_required("appeals")
def photo(appeal_id: int, file_id: int):
    """A photo the resident attached in a chat, to staff who may see the appeal: an image by its own bytes'
    type, shown inline, never cached by a shared proxy."""
    appeal = appeals.get_appeal(appeal_id, user=current_user)
    kept = channels.appeal_file(appeal, file_id)
    if kept is None:
        abort(404)
    response = make_response(kept.data)
    response.headers["Content-Type"] = kept.mime_type
    response.headers["Content-Disposition"] = f"inline; filename=photo-{kept.id}"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.post("/<int:appeal_id>/block")
@permission_required("appeals")
def block_sender(appeal_id: int):
    """Block the appeal's sender on every channel (an admin; audited)."""
    if not can(current_user, "block"):
        abort(403)
    appeal = appeals.get_appeal(appeal_id, user=current_user)
    try:
        blocking.block_appeal_sender(appeal, actor=current_user, reason=request.form.get("reason", ""))
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message) + "".join(f" {v}" for v in exc.fields.values()), "error")
    else:
        flash(_("The sender is blocked."), "ok")
    return redirect(url_for("appeals.detail", appeal_id=appeal_id))


@bp.post("/<int:appeal_id>/<action>")
@permission_required("appeals")
def act(appeal_id: int, action: str):
    """Run one action on the appeal (one transaction); a refusal re-shows the page with the reason."""
    if action not in ACTIONS:
        abort(404)
    call = ACTIONS[action]
    try:
        appeal = appeals.get_appeal(appeal_id, user=current_user, version=request.form.get("version"))
        result = call(appeal, request.form, current_user)
    except (ServiceError, StaleDataError) as exc:  # StaleDataError: another officer's commit came in between
        db.session.rollback()
        db.session.expire_all()
        exc = stale(exc) if isinstance(exc, StaleDataError) else exc
        flash(str(exc.message) + "".join(f" {v}" for v in exc.fields.values()), "error")
        return _detail(appeals.get_appeal(appeal_id, user=current_user), exc.status, (action, request.form))
    if isinstance(result, Change):
        publish(result)
    flash(_("Saved."), "ok")
    for notice in (result.notices if isinstance(result, Change) else []) + outbox.take_noted():
        if notice.owed == "no_mail_server":
            flash(_("No mail server is set, so no e-mail was sent: tell the applicant by phone or in writing, "
                    "then record it under “Notice to give”."), "error")
        elif notice.owed:
            flash(_("The applicant left no e-mail address: tell them by phone or in writing, then record it "
                    "under “Notice to give”."), "error")
    return redirect(url_for("appeals.detail", appeal_id=appeal.id))


@bp.errorhandler(ServiceError)
def refused(exc: ServiceError):
    """A refusal outside an action (unknown or foreign appeal) as an error page with its status."""
    db.session.rollback()
    return render_template("error.html", code=exc.status, message=exc.message), exc.status
