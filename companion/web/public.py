"""Pages for residents: the viewer page, its QR code, tracking, the language switch."""
from __future__ import annotations

import io
import math
import secrets

import segno
from flask import (Blueprint, Response, abort, current_app, flash, make_response, redirect, render_template, request,
                   session, url_for)
from flask_babel import get_locale
from flask_babel import gettext as _

from ..extensions import db
from ..links import absolute_url
from ..models import LANGUAGES
from ..presenters import appeal_status, last_promises, public_appeal, public_promise
from ..presenters import talon as talon_view
from ..realtime.emit import publish
from ..services import appeals, broadcasts, desk, intake, limits, moderation, privacy, promises, reports, wording
from ..services.language import current_language
from ..errors import InvalidTransition, NotFound
from ..services.fields import name_limit
from .safety import local_target, same_site_referrer

bp = Blueprint("public", __name__)

LANG_COOKIE_AGE = 365 * 24 * 3600


def public_url(endpoint: str, **values) -> str:
    """An absolute URL for QR codes and printed links, never on a client's Host header (`links`)."""
    return absolute_url(endpoint, **values)


def broadcast_or_404(slug: str):
    """The broadcast, or the friendly 404 page."""
    try:
        return intake.get_broadcast(slug)
    except NotFound:
        abort(404)


@bp.get("/")
def index():
    """The list of broadcasts residents can join."""
    return render_template("index.html", broadcasts=broadcasts.open_broadcasts())


@bp.get("/b/<slug>")
def viewer(slug: str):
    """The viewer page: ask, see what is on air, upvote, keep talons."""
    broadcast = broadcast_or_404(slug)
    session.permanent = True
    session.setdefault("viewer", secrets.token_urlsafe(18))
    return render_template("viewer.html", broadcast=broadcast, page_url=public_url("public.viewer", slug=slug),
                           max_length=current_app.config["QUESTION_MAX_LENGTH"],
                           name_max=name_limit(current_app.config), **_consent_texts())


def _consent_texts() -> dict:
    """The consent sentence, its elements and the publication opt-in, in the page's language."""
    return {"consent_sentence": privacy.CONSENT_SENTENCE, "show_name_sentence": privacy.SHOW_NAME_SENTENCE,
            "consent_points": privacy.consent_points(current_language()),
            "consent_version": privacy.CONSENT_VERSION}


@bp.get("/privacy")
def privacy_page():
    """The personal data notice: the consent text in full, in kk/ru/en."""
    return render_template("privacy.html", **_consent_texts())


OVERLAY_POSITIONS = ("bottom", "top")
OVERLAY_THEMES = ("dark", "light", "brand")
# the question on air (lower third), "ask your question" with the QR code, or last week's promises
OVERLAY_MODES = ("question", "ask", "promises")


@bp.get("/overlay/<slug>")
def overlay(slug: str):
    """The director's transparent lower third for OBS/vMix; the address carries the broadcast's overlay key."""
    broadcast = broadcast_or_404(slug)
    if not broadcasts.overlay_key_matches(broadcast, request.args.get("key")):
        abort(404)  # an unknown key looks like an unknown page
    try:
        scale = min(max(float(request.args.get("scale", 1)), 0.5), 3.0)
    except ValueError:
        scale = 1.0
    if not math.isfinite(scale):  # "nan" passes min() and max() unchanged
        scale = 1.0
    mode = request.args.get("mode")
    options = {"position": request.args.get("position") if request.args.get("position") in OVERLAY_POSITIONS else "bottom",
               "theme": request.args.get("theme") if request.args.get("theme") in OVERLAY_THEMES else "dark",
               "mode": mode if mode in OVERLAY_MODES else "question", "scale": scale}
    last = last_promises(promises.last_broadcast_promises(broadcast)) if options["mode"] == "promises" else None
    response = make_response(render_template("overlay.html", broadcast=broadcast, options=options, last=last,
                                             page_url=public_url("public.viewer", slug=slug)))
    response.headers["Referrer-Policy"] = "no-referrer"  # the key stays out of other sites' logs
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/present/<slug>")
def present(slug: str):
    """The projector/stream view: how to join, the question on air, the top questions, live counters."""
    broadcast = broadcast_or_404(slug)
    return render_template("present.html", broadcast=broadcast, page_url=public_url("public.viewer", slug=slug),
                           last=last_promises(promises.last_broadcast_promises(broadcast)))


@bp.get("/b/<slug>/qr.svg")
def viewer_qr(slug: str):
    """A QR code of the viewer page address, for the moderator to show on screen."""
    broadcast = broadcast_or_404(slug)
    out = io.BytesIO()
    segno.make(public_url("public.viewer", slug=broadcast.slug), error="m").save(out, kind="svg", scale=8, border=2)
    return Response(out.getvalue(), mimetype="image/svg+xml", headers={"Cache-Control": "public, max-age=3600"})


@bp.get("/track")
def track_form():
    """Ask for a tracking number and access code; with ?code= go to the appeal's page."""
    code = (request.args.get("code") or "").strip().upper()
    access = appeals.normalise_access_code(request.args.get("access") or "")
    if code and access:
        return redirect(url_for("public.track_private", code=code, access=wording.format_access_code(access)))
    if code:
        return redirect(url_for("public.track", code=code))
    return render_template("track.html", appeal=None, code="")


def _private_headers(response):
    """Pages that show an appeal's text: never cached, and their address (the access code) never sent on."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _count_lookup() -> None:
    """Count a lookup by number (or with a wrong access code) against the address's limit; 429 past it."""
    try:
        limits.count_lookup(request.remote_addr)  # a lock met here is waited out by the page (web.waits_out_locks)
    except limits.RateLimited as exc:
        page = render_template("error.html", code=429, message=exc.message)
        abort(Response(page, status=429, headers={"Retry-After": str(exc.detail["retry_after"])}))


def _not_found(code: str, access: str = ""):
    page = render_template("track.html", appeal=None, code=code, access=access, not_found=True)
    abort(_private_headers(Response(page, status=404)))


def _private_appeal_or_404(code: str, access: str):
    """The appeal at the resident's address (number and access code), or the 404 page with the form."""
    appeal = appeals.by_public_address(code, access)
    if appeal is None:
        _count_lookup()  # a wrong access code counts like a lookup by number
        _not_found(code, access)
    return appeal


@bp.get("/track/<code>")
def track(code: str):
    """An appeal by its number alone: the status and dates, nothing the resident wrote or was answered."""
    _count_lookup()
    appeal = appeals.by_code(code)
    if appeal is None:
        _not_found(code)
    return render_template("track.html", appeal=appeal, view=appeal_status(appeal), t=talon_view(appeal),
                           code=appeal.tracking_code)


@bp.get("/track/<code>/<access>")
def track_private(code: str, access: str):
    """The applicant's page of the appeal (number and access code): text, timeline, answer; no personal data."""
    appeal = _private_appeal_or_404(code, access)
    return _private_headers(make_response(render_template(
        "track.html", appeal=appeal, view=public_appeal(appeal), events=appeals.public_events(appeal),
        withdrawable=appeals.withdrawable(appeal), personal_data=privacy.has_personal_data(appeal),
        t=talon_view(appeal), code=appeal.tracking_code, access=wording.format_access_code(appeal.access_code),
        lang=_chosen_lang())))


def _chosen_lang() -> str | None:
    """The page's `?lang=`, when it names one of ours: kept on the forms and redirects of the resident's pages."""
    lang = request.args.get("lang")
    return lang if lang in LANGUAGES else None


@bp.get("/track/<code>/<access>/withdraw")
def withdraw_form(code: str, access: str):
    """The confirm step of withdrawing an appeal: what it means, and the button (a POST with CSRF)."""
    appeal = _private_appeal_or_404(code, access)
    return _private_headers(make_response(render_template(
        "withdraw.html", appeal=appeal, access=wording.format_access_code(appeal.access_code),
        allowed=appeals.withdrawable(appeal), lang=_chosen_lang())))


@bp.post("/track/<code>/<access>/withdraw")
def withdraw(code: str, access: str):
    """The applicant withdraws their appeal (APPK art. 64): it ends, and its page says so."""
    appeal = _private_appeal_or_404(code, access)
    access = wording.format_access_code(appeal.access_code)
    try:
        change = moderation.withdraw_appeal(appeal, actor=None, means="web")
    except InvalidTransition as exc:
        db.session.rollback()
        return _private_headers(make_response(render_template(
            "withdraw.html", appeal=appeal, access=access, allowed=False, error=exc.message, lang=_chosen_lang()), 409))
    publish(change)  # the desk, the teleprompter and the public feed drop the question
    return redirect(url_for("public.track_private", code=appeal.tracking_code, access=access,
                            lang=_chosen_lang()), 303)  # the language the resident chose


@bp.route("/track/<code>/<access>/withdraw-consent", methods=["GET", "POST"])
def withdraw_consent(code: str, access: str):
    """The resident withdraws consent to personal data: a confirm page (GET), then the erasure (POST with CSRF)."""
    appeal = _private_appeal_or_404(code, access)
    access = wording.format_access_code(appeal.access_code)
    if request.method == "POST":
        if request.form.get("confirm") != "yes":
            abort(400)
        publish(privacy.withdraw_consent(appeal))
        flash(_("Your consent is withdrawn: your name and contact have been erased."), "ok")
        return _private_headers(redirect(url_for("public.track_private", code=appeal.tracking_code, access=access,
                                                 lang=_chosen_lang())))
    return _private_headers(make_response(render_template("withdraw_consent.html", appeal=appeal, access=access,
                                                          lang=_chosen_lang())))


def track_url(appeal) -> str:
    """The absolute address of the applicant's page of an appeal (printed, in the QR code, in notices)."""
    return public_url("public.track_private", code=appeal.tracking_code,
                      access=wording.format_access_code(appeal.access_code))


@bp.get("/track/<code>/<access>/talon")
def talon(code: str, access: str):
    """The printable talon (APPK art. 64(2)): number, access code, time received and registration date,
    the receiving office and who accepted the appeal, the due date."""
    appeal = _private_appeal_or_404(code, access)
    return _private_headers(make_response(render_template(
        "talon.html", appeal=appeal, t=talon_view(appeal), track_url=track_url(appeal),
        access=wording.format_access_code(appeal.access_code), lang=_chosen_lang())))


# the address printed before the talon had its legal name (and its endpoint, for links made elsewhere)
bp.add_url_rule("/track/<code>/<access>/receipt", "receipt", talon)


@bp.get("/track/<code>/<access>/qr.svg")
def track_qr(code: str, access: str):
    """A QR code of the applicant's page of the appeal, printed on the talon."""
    appeal = _private_appeal_or_404(code, access)
    out = io.BytesIO()
    segno.make(track_url(appeal), error="m").save(out, kind="svg", scale=4, border=2)
    return _private_headers(Response(out.getvalue(), mimetype="image/svg+xml"))


@bp.get("/roadmap")
def roadmap():
    """The public roadmap of requests: what residents ask about and how the office answers. No personal data."""
    figures = reports.roadmap()
    categories = {str(c.id): c for c in desk.categories()}
    return render_template("roadmap.html", r=figures, categories=categories, status_labels=appeals.STATUS_LABELS,
                           promises=[public_promise(p) for p in promises.published_promises()])


@bp.get("/lang/<code>")
def set_language(code: str):
    """Remember the chosen interface language in a cookie and go back."""
    target = (local_target(request.args.get("next")) if "next" in request.args else same_site_referrer())
    response = redirect(target or url_for("public.index"))
    if code in LANGUAGES:
        response.set_cookie("lang", code, max_age=LANG_COOKIE_AGE, samesite="Lax", httponly=True)
    return response


@bp.app_template_global()
def broadcast_title(broadcast) -> str:
    """The broadcast title in the interface language."""
    return broadcast.title(str(get_locale()))
