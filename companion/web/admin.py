"""Administration: broadcasts (create, schedule, start, end, browse), staff accounts, the office's structure and topics."""
from __future__ import annotations

from datetime import timezone

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import to_user_timezone, to_utc
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..models import Broadcast
from .guard import permission_required
from ..realtime.emit import publish
from ..services import accounts, apikeys, appeals, auditlog, blocking, deadlines, desk, moderation, organisation, topics
from ..services import broadcasts as broadcast_service
from ..errors import ServiceError, StaleVersion
from ..services.fields import Limit, parse_id
from .forms import ApiKeyForm, BroadcastForm, EmptyForm, UserForm, UserRoleForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _broadcast(broadcast_id: int) -> Broadcast:
    broadcast = db.session.get(Broadcast, broadcast_id)
    if broadcast is None:
        abort(404)
    return broadcast


def _form_errors(form, exc: ServiceError) -> None:
    """Show a service refusal on the form: per field where it names one."""
    for name, message in exc.fields.items():
        if name in form:
            form[name].errors = [*form[name].errors, str(message)]
    flash(str(exc.message), "error")


def _show_password(user, password: str):
    """The page that shows a new password once."""
    return render_template("admin/secret.html", title=user.username, secret=password, back_url=url_for("admin.users"),
                           message=_("The password is shown only once. Give it to the person in private."),
                           back_label=_("Back to staff"))


@bp.get("/")
@permission_required("moderate")
def broadcasts_list():
    """Alias kept short for the nav: the broadcasts list."""
    return redirect(url_for("admin.broadcasts"))


@bp.get("/broadcasts")
@permission_required("moderate")
def broadcasts():
    """All broadcasts, newest first, with their question counts."""
    return render_template("admin/broadcasts.html", rows=broadcast_service.list_broadcasts())


@bp.route("/broadcasts/new", methods=["GET", "POST"])
@bp.route("/broadcasts/<int:broadcast_id>/edit", methods=["GET", "POST"])
@permission_required("administer")
def broadcast_form(broadcast_id: int | None = None):
    """Create or edit a broadcast."""
    broadcast = _broadcast(broadcast_id) if broadcast_id else None
    form = BroadcastForm(obj=broadcast)
    if request.method == "GET" and broadcast is not None and broadcast.starts_at:
        form.starts_at.data = to_user_timezone(broadcast.starts_at).replace(tzinfo=None)
    if form.validate_on_submit():
        values = {k: v for k, v in form.data.items() if k not in ("csrf_token", "slug")}
        if values.get("starts_at"):  # typed in the office's time zone, stored in UTC
            values["starts_at"] = to_utc(values["starts_at"]).replace(tzinfo=timezone.utc)
        if broadcast is None:
            values["slug"] = form.slug.data
        try:
            saved = broadcast_service.save_broadcast(values, broadcast, actor=current_user)
        except ServiceError as exc:
            db.session.rollback()
            _form_errors(form, exc)
        else:
            flash(_("Saved."), "ok")
            return redirect(url_for("admin.broadcast_detail", broadcast_id=saved.id))
    return render_template("admin/broadcast_form.html", form=form, broadcast=broadcast)


@bp.get("/broadcasts/<int:broadcast_id>")
@permission_required("moderate")
def broadcast_detail(broadcast_id: int):
    """One broadcast with all its questions (for past broadcasts too)."""
    broadcast = _broadcast(broadcast_id)
    return render_template("admin/broadcast_detail.html", broadcast=broadcast,
                           questions=desk.all_questions(broadcast), form=EmptyForm(),
                           broadcast_moves=moderation.broadcast_moves(broadcast),
                           labels=moderation.STATUS_LABELS)


@bp.post("/broadcasts/<int:broadcast_id>/status")
@permission_required("administer")
def broadcast_status(broadcast_id: int):
    """Start or end a broadcast."""
    broadcast = _broadcast(broadcast_id)
    if EmptyForm().validate_on_submit():
        try:
            publish(moderation.set_broadcast_status(broadcast, request.form.get("status", ""), actor=current_user))
        except (ServiceError, ValueError) as exc:
            db.session.rollback()
            flash(str(getattr(exc, "message", _("Invalid request."))), "error")
    return redirect(url_for("admin.broadcast_detail", broadcast_id=broadcast.id))


@bp.post("/broadcasts/<int:broadcast_id>/overlay-key")
@permission_required("moderate")
def overlay_key(broadcast_id: int):
    """Give the overlay a new secret address (the old one stops working at once)."""
    broadcast = _broadcast(broadcast_id)
    if EmptyForm().validate_on_submit():
        broadcast_service.rotate_overlay_key(broadcast, actor=current_user)
        flash(_("The overlay has a new address. Update it in OBS/vMix."), "ok")
    return redirect(url_for("admin.broadcast_detail", broadcast_id=broadcast.id) + "#screens")


@bp.route("/users", methods=["GET", "POST"])
@permission_required("administer")
def users():
    """Staff accounts: list and create."""
    form = UserForm()
    if form.validate_on_submit():
        try:
            user, password = accounts.create_user(form.username.data, form.role.data,
                                                  display_name=form.display_name.data or "",
                                                  position=form.position.data or "", actor=current_user)
        except ServiceError as exc:
            db.session.rollback()
            _form_errors(form, exc)
        else:
            return _show_password(user, password)
    departments, locale = appeals.departments(), str(get_locale())
    rows = [(u, UserRoleForm(prefix=f"u{u.id}", role=u.role, active=u.active, position=u.position,
                             department_id=str(u.department_id or ""))
             .with_departments(departments, locale)) for u in accounts.all_users()]
    return render_template("admin/users.html", form=form, rows=rows, reset_form=EmptyForm())


@bp.post("/users/<int:user_id>")
@permission_required("administer")
def user_update(user_id: int):
    """Change a staff account's role, position or department, or deactivate it."""
    user = accounts.get_user(user_id)
    form = UserRoleForm(prefix=f"u{user.id}")
    if form.validate_on_submit():
        try:
            accounts.update_user(user, role=form.role.data, active=form.active.data, position=form.position.data or "",
                                 department_id=form.department_id.data or None, actor=current_user)
            flash(_("Saved."), "ok")
        except ServiceError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/password")
@permission_required("administer")
def user_password(user_id: int):
    """Reset a staff account's password; the new one is shown once."""
    user = accounts.get_user(user_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _show_password(user, accounts.reset_password(user, actor=current_user))


@bp.post("/users/<int:user_id>/unlock")
@permission_required("administer")
def user_unlock(user_id: int):
    """Let an account be tried again from every address at once; its password stays."""
    user = accounts.get_user(user_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    accounts.unlock(user, actor=current_user)
    flash(_("%(name)s can sign in again with the same password.", name=user.username), "ok")
    return redirect(url_for("admin.users"))


@bp.get("/audit")
@permission_required("administer")
def audit_log():
    """Every staff action and refused attempt: who, what, when, from where."""
    args = request.args
    before = parse_id(args.get("before"))
    events = auditlog.audit_events(action=args.get("action", ""), actor=args.get("actor", "").strip(),
                                   ip=args.get("ip", "").strip(), before_id=before)
    return render_template("admin/audit.html", events=events, actions=auditlog.audit_actions(),
                           page_size=auditlog.PAGE)


@bp.route("/api-keys", methods=["GET", "POST"])
@permission_required("administer")
def api_keys():
    """Keys for integrators: create (the key is shown once) and revoke."""
    form = ApiKeyForm()
    if form.validate_on_submit():
        try:
            row, key = apikeys.create_key(form.name.data, actor=current_user)
        except ServiceError as exc:
            db.session.rollback()
            _form_errors(form, exc)
        else:
            return render_template("admin/secret.html", title=row.name, secret=key, back_url=url_for("admin.api_keys"),
                                   message=_("The key is shown only once. Give it to the integrator over a safe channel."),
                                   back_label=_("API keys"))
    return render_template("admin/api_keys.html", form=form, keys=apikeys.all_keys(), revoke_form=EmptyForm())


@bp.post("/api-keys/<int:key_id>/revoke")
@permission_required("administer")
def api_key_revoke(key_id: int):
    """Stop a key from working."""
    if EmptyForm().validate_on_submit():
        apikeys.revoke_key(key_id, actor=current_user)
        flash(_("Saved."), "ok")
    return redirect(url_for("admin.api_keys"))


@bp.get("/organisation", endpoint="organisation")
@permission_required("administer")
def organisation_page():
    """Departments, categories with their default department, and the calendar's corrections."""
    return _organisation_page()


def _organisation_page(failed: dict | None = None, status: int = 200):
    """The organisation page; `failed` re-shows one department's or category's form as it was sent, with its
    fields' errors (as the topics page does)."""
    return render_template("admin/organisation.html", departments=appeals.departments(),
                           categories=desk.categories(), days=deadlines.calendar_days(), failed=failed or {}), status


def _save(call, kind: str, item_id: int | None, anchor: str):
    """Save a department or a category; bad input comes back on the same form, every field as typed, with a 400."""
    try:
        call(request.form, item_id, actor=current_user)
    except ServiceError as exc:
        db.session.rollback()
        if exc.status == 404:  # no such department or category: no form to show it on
            abort(404)
        return _organisation_page({"kind": kind, "id": item_id or "new", "values": request.form,
                                   "errors": exc.fields, "message": str(exc.message)}, exc.status)
    flash(_("Saved."), "ok")
    return redirect(url_for("admin.organisation") + anchor)


@bp.post("/departments")
@bp.post("/departments/<int:department_id>")
@permission_required("administer")
def department_save(department_id: int | None = None):
    """Create or change a department."""
    return _save(organisation.save_department, "department", department_id, "#departments")


@bp.post("/categories")
@bp.post("/categories/<int:category_id>")
@permission_required("administer")
def category_save(category_id: int | None = None):
    """Create or change a category and its default department."""
    return _save(organisation.save_category, "category", category_id, "#categories")


@bp.post("/calendar")
@permission_required("administer")
def calendar_save():
    """Add, change or remove a correction to the working calendar."""
    try:
        day = deadlines.parse_day(request.form.get("day", ""), "day")
        kind = request.form.get("kind") or None
        deadlines.set_calendar_day(day, None if kind == "remove" else kind, request.form.get("note", ""))
        flash(_("Saved."), "ok")
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message) + "".join(f" {v}" for v in exc.fields.values()), "error")
    return redirect(url_for("admin.organisation") + "#calendar")


@bp.route("/blocked", methods=["GET", "POST"])
@permission_required("administer")
def blocked_senders():
    """The senders blocked on every channel: lift a block, or block a number or an address typed here."""
    form = EmptyForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            blocking.block_contact(request.form.get("contact", ""), actor=current_user, reason=request.form.get("reason", ""))
        except ServiceError as exc:
            db.session.rollback()
            flash(str(exc.message) + "".join(f" {v}" for v in exc.fields.values()), "error")
        else:
            flash(_("The sender is blocked."), "ok")
        return redirect(url_for("admin.blocked_senders"))
    return render_template("admin/blocked.html", rows=blocking.active_blocks(), form=form, kinds=blocking.KIND_LABELS)


@bp.post("/blocked/<int:block_id>/unblock")
@permission_required("administer")
def unblock_sender(block_id: int):
    """Lift a block (audited)."""
    if EmptyForm().validate_on_submit():
        try:
            blocking.unblock(block_id, actor=current_user)
        except ServiceError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            flash(_("The block is lifted."), "ok")
    return redirect(url_for("admin.blocked_senders"))


def _topics_page(failed: dict | None = None, status: int = 200):
    """The topics page; `failed` re-shows one form as it was sent, with its fields' errors (a 400)."""
    run = topics.latest_run()
    return render_template("admin/topics.html", topics=topics.all_topics(), run=run,
                           rules_changed=topics.rules_changed_since(run), run_states=topics.RUN_STATES,
                           failed=failed or {}, limits={"name": Limit.TOPIC_NAME, "keyword": Limit.TOPIC_KEYWORD,
                                                        "keywords": Limit.TOPIC_KEYWORDS}), status


@bp.get("/topics")
@permission_required("administer")
def topics_page():
    """Topic tags: each with its names in kk/ru/en and its keyword rules; applying them again to every appeal."""
    return _topics_page()


@bp.post("/topics")
@bp.post("/topics/<int:topic_id>")
@permission_required("administer")
def topic_save(topic_id: int | None = None):
    """Create or change a topic; bad input comes back on the same form, every field as typed, with a 400."""
    if topic_id is not None:
        topics.get_topic(topic_id)  # 404 for a topic that does not exist (ServiceError handler below)
    try:
        topic = topics.save_topic(request.form, topic_id, actor=current_user)
    except ServiceError as exc:
        db.session.rollback()
        failed = {"id": topic_id or "new", "values": request.form, "errors": exc.fields, "message": str(exc.message)}
        if isinstance(exc, StaleVersion):  # saved by another admin: the form as typed, of the version now stored
            failed.update(version=exc.detail["current_version"], saved=topics.get_topic(topic_id))
        return _topics_page(failed, exc.status)
    flash(_("Saved. The rules apply to appeals from now on; apply them again to update the others."), "ok")
    return redirect(url_for("admin.topics_page") + f"#topic-{topic.id}")


@bp.post("/topics/retag")
@permission_required("administer")
def topics_retag():
    """Apply the rules again to every appeal: the newest batch now, the rest by the serving processes."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    run = topics.request_retag(current_user)
    try:
        topics.retag_batch(run.id)
    except SQLAlchemyError:  # a database busy a moment: the serving processes do this batch too
        db.session.rollback()
    flash(_("The rules are being applied again to every appeal, newest first; staff's choices stay."), "ok")
    return redirect(url_for("admin.topics_page") + "#retag")


@bp.errorhandler(ServiceError)
def refused(exc: ServiceError):
    """A refusal outside a form (a topic that does not exist) as an error page with its status."""
    db.session.rollback()
    return render_template("error.html", code=exc.status, message=exc.message), exc.status
