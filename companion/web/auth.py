"""Staff sign-in and sign-out."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import format_time
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from ..models import utcnow
from ..permissions import can
from ..services import accounts, limits
from .forms import EmptyForm, LoginForm
from .safety import local_target

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with username and password."""
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.username.data, form.password.data, request.remote_addr)
        except limits.RateLimited as exc:
            wait = int(exc.detail["retry_after"])
            flash(_("Too many wrong passwords from this address. You can try again at %(time)s.",
                    time=format_time(utcnow() + timedelta(seconds=wait), "short")), "error")
            response = make_response(render_template("login.html", form=form), 429)
            response.headers["Retry-After"] = str(wait)
            return response
        if user is None:
            flash(_("Wrong username or password."), "error")
        else:
            viewer = session.get("viewer")
            session.clear()  # a fresh session at login: no fixation
            if viewer:
                session["viewer"] = viewer
            session["login_id"] = accounts.start_session(user).id
            login_user(user)
            default = (url_for("admin.broadcasts") if can(user, "moderate") else
                       url_for("operator.index") if can(user, "operate") else url_for("public.index"))
            return redirect(local_target(request.args.get("next")) or default)
    return render_template("login.html", form=form), (200 if request.method == "GET" else 400)


@bp.post("/logout")
def logout():
    """Sign out (POST with CSRF token)."""
    form = EmptyForm()
    if form.validate_on_submit():
        accounts.end_session(session.get("login_id"), current_user if current_user.is_authenticated else None)
        logout_user()
        session.clear()
    return redirect(url_for("public.index"))
