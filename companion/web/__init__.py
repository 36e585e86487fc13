"""HTML blueprints by role, plus the page-wide helpers they share."""
from __future__ import annotations

import secrets
from datetime import date
from functools import wraps

from flask import Flask, g, jsonify, render_template, request, session
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from ..extensions import db, login_manager
from ..models import BroadcastStatus, QuestionStatus
from ..services.appeals import ACTION_LABELS, channel_label, event_label, public_note
from ..services.appeals import status_label as appeal_status_label
from ..services.moderation import BROADCAST_STATUS_LABELS, RESIDENT_STATUS_LABELS, STATUS_LABELS
from ..services.wording import format_access_code, ground_label
from ..services.language import LANGUAGE_NAMES, NAME_INPUTS
from ..config import LANGUAGE_ENDONYMS, LANGUAGE_MARKS, LANGUAGES
from ..services.fields import Limit
from ..services.database import Unavailable, resilient
from ..permissions import can
from ..presenters import html_datetime, long_date, moment_text
from ..services import accounts
from .plurals import plural_forms

# Scripts only from this site and only with this response's nonce; no inline styles; the stream
# embed may come from any https host; the pages may be framed only by this site.
CSP = ("default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-src https:; frame-ancestors 'self'; base-uri 'none'; form-action 'self'; "
       "object-src 'none'")

ERROR_TEXT = {
    400: _l("The request was not understood."),
    403: _l("You do not have access to this page."),
    404: _l("This page does not exist. Check the address or the QR code."),
    405: _l("This action is not allowed here."),
    413: _l("What you sent is too large."),
    500: _l("Something went wrong on our side. Please try again in a minute."),
    503: _l("The service is busy for a moment. Nothing was saved: please send the form again."),
}


@login_manager.user_loader
def load_user(user_id: str):
    """Reload the account on every request and socket event, so role changes apply at once;
    a sign-in that was logged out or revoked no longer counts (on HTTP and on open sockets)."""
    return accounts.signed_in_user(user_id, session.get("login_id"))


def waits_out_locks(view):
    """The view, run again while SQLite is locked a moment (a try that met the lock committed nothing);
    a lock that stays, or a database that does not answer, is a 503 page the browser may retry."""
    retried = resilient(view)

    @wraps(view)
    def page(*args, **kwargs):
        try:
            return retried(*args, **kwargs)
        except Unavailable:
            db.session.rollback()
            return render_template("error.html", code=503, message=ERROR_TEXT[503]), 503, {"Retry-After": "5"}
    return page


def register_web(app: Flask) -> None:
    """Attach the HTML blueprints, error pages and template helpers."""
    from . import admin, analytics, appeals, auth, internal, operator, promises, public, reports, safety, staff
    from ..extensions import csrf
    safety.install(app)  # first: the id converter applies to the routes added after it
    modules = (public, auth, staff, admin, appeals, promises, reports, analytics, operator, internal)
    for module in modules:
        app.register_blueprint(module.bp)
    # every page waits out a moment's SQLite write lock (another process's write, a group commit) instead
    # of a 500; a try that met it committed nothing, so the view runs again (services/database.resilient)
    names = {module.bp.name for module in modules}
    for endpoint, view in list(app.view_functions.items()):
        if endpoint.partition(".")[0] in names:
            app.view_functions[endpoint] = waits_out_locks(view)
    csrf.exempt(internal.bp)  # signed with the app's secret key instead (web/internal.py)

    @app.context_processor
    def helpers():
        return {"locale": str(get_locale()), "can": lambda perm: can(current_user, perm),
                "status_label": lambda status: STATUS_LABELS[QuestionStatus(status)],
                "broadcast_status_label": lambda status: BROADCAST_STATUS_LABELS[BroadcastStatus(status)],
                "appeal_status_label": appeal_status_label, "channel_label": channel_label,
                "language_name": lambda code: str(LANGUAGE_NAMES.get(code, code)),
                "action_label": lambda action: ACTION_LABELS.get(action, action),
                "ground_label": ground_label, "public_note": public_note, "event_label": event_label,
                "access_code": lambda appeal: format_access_code(appeal.access_code),
                "plural_forms": plural_forms,
                "resident_status_labels": lambda: {key: str(label) for key, label in RESIDENT_STATUS_LABELS.items()},
                "long_date": long_date, "moment_text": moment_text,
                "locales": tuple((code, LANGUAGE_ENDONYMS[code]) for code in LANGUAGES),
                "language_marks": LANGUAGE_MARKS, "name_inputs": NAME_INPUTS,
                "limit": Limit}  # every field's longest value (services/fields.py): maxlength="{{ limit.CONTACT }}"

    def error_page(exc):
        code = getattr(exc, "code", 500) or 500
        message = ERROR_TEXT.get(code, ERROR_TEXT[500])
        if isinstance(exc, CSRFError):  # a form's token expired or came from another session: say what to do
            message = _l("The form has expired (the page was open too long, or the site was opened in another "
                         "tab). Go back, reload the page and try again.")
        # a 405 names the methods the address does take (RFC 9110, 15.5.6), on every kind of page
        headers = {"Allow": ", ".join(sorted(exc.valid_methods))} if getattr(exc, "valid_methods", None) else {}
        if request.path.startswith("/open311/"):  # GeoReport v2's own error format, in the URL's format
            from ..api import georeport
            return georeport.errors(code, str(message), georeport.format_of(request.path), headers)
        if request.path.startswith("/api/"):
            name = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                    405: "method_not_allowed", 413: "too_large"}.get(code, "server_error")
            return jsonify(error={"code": name, "message": str(message)}), code, headers
        return render_template("error.html", code=code, message=message), code, headers

    for code in ERROR_TEXT:
        app.register_error_handler(code, error_page)

    @app.template_filter("isodate")
    def isodate(value: str) -> date:
        """A date stored as ISO text (in an event's details), for Babel's dateformat."""
        return date.fromisoformat(value)

    app.add_template_filter(html_datetime, "html_datetime")

    @app.template_global()
    def csp_nonce() -> str:
        """This response's script nonce (one per response)."""
        if "csp_nonce" not in g:
            g.csp_nonce = secrets.token_urlsafe(16)
        return g.csp_nonce

    @app.after_request
    def security_headers(response):
        policy = CSP.format(nonce=csp_nonce())
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response
