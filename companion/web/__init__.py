"""HTML blueprints by role, plus the page-wide helpers they share."""
from __future__ import annotations

from flask import Flask, g, jsonify, render_template, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..extensions import db, login_manager
from ..models import QuestionStatus, User
from ..services.moderation import STATUS_LABELS
from ..permissions import can

ERROR_TEXT = {
    400: _l("The request was not understood."),
    403: _l("You do not have access to this page."),
    404: _l("This page does not exist. Check the address or the QR code."),
    405: _l("This action is not allowed here."),
    413: _l("What you sent is too large."),
    500: _l("Something went wrong on our side. Please try again in a minute."),
}


@login_manager.user_loader
def load_user(user_id: str):
    """Reload the account on every request and socket event, so role changes apply at once."""
    try:
        return db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None


def register_web(app: Flask) -> None:
    """Attach the HTML blueprints, error pages and template helpers."""
    from . import admin, auth, public, staff
    for module in (public, auth, staff, admin):
        app.register_blueprint(module.bp)

    @app.context_processor
    def helpers():
        return {"locale": str(get_locale()), "can": lambda perm: can(current_user, perm),
                "status_label": lambda status: STATUS_LABELS[QuestionStatus(status)],
                "locales": (("kk", "Қазақша"), ("ru", "Русский"), ("en", "English"))}

    def error_page(exc):
        code = getattr(exc, "code", 500) or 500
        message = ERROR_TEXT.get(code, ERROR_TEXT[500])
        if request.path.startswith("/api/") or request.path.startswith("/open311/"):
            name = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                    405: "method_not_allowed", 413: "too_large"}.get(code, "server_error")
            return jsonify(error={"code": name, "message": str(message)}), code
        return render_template("error.html", code=code, message=message), code

    for code in ERROR_TEXT:
        app.register_error_handler(code, error_page)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response
