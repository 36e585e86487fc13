"""The JSON API under /api/v1 and the health checks (/healthz: alive, /readyz: can store questions)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask_babel import lazy_gettext as _l

from ..extensions import db, socketio
from ..models import Channel
from ..presenters import appeal_status as appeal_status_view
from ..presenters import broadcast_settings, own_question, public_appeal, public_question
from ..realtime.emit import publish
from ..services import apikeys, appeals, desk, intake, limits, readiness
from ..services.language import current_language
from ..services.database import resilient
from ..errors import NotFound, ServiceError, ValidationError
from ..runtime import runtime
from . import openapi as openapi_document

bp = Blueprint("api", __name__)
UNAVAILABLE_RETRY_SECONDS = 5


@bp.errorhandler(ServiceError)
def service_error(exc: ServiceError):
    """Domain refusals as {"error": {"code", "message"}} with their status."""
    db.session.rollback()
    response = jsonify(error=exc.to_dict())
    if "retry_after" in exc.detail:
        response.headers["Retry-After"] = str(exc.detail["retry_after"])
    elif exc.status == 503:  # the database did not answer: a client's retry a few seconds later is welcome
        response.headers["Retry-After"] = str(UNAVAILABLE_RETRY_SECONDS)
    if exc.status == 401:  # RFC 9110 11.6.1: say how to authenticate
        response.headers["WWW-Authenticate"] = 'Bearer realm="companion"'
    return response, exc.status


@bp.get("/healthz")
def healthz():
    """Liveness: 200 whenever the process answers (readiness, whether it can store questions, is /readyz)."""
    extra = {"connections": len(socketio.server.eio.sockets)}
    if current_app.config["DIAGNOSTICS"]:
        import gc

        import greenlet
        # live ones: started and not finished (a finished one may wait for the collector)
        extra["green_threads"] = sum(isinstance(o, greenlet.greenlet) and bool(o) for o in gc.get_objects())
        for name, probe in runtime().diagnostics.items():  # the server's own
            extra[name] = probe()
    return jsonify(status="ok", async_mode=socketio.async_mode, **extra)


@bp.get("/readyz")
def readyz():
    """Readiness: 200 when this process can store questions (the database takes a write, the disk has room);
    503 otherwise, with the reasons. A message queue that does not answer is reported, not fatal."""
    ready, report = readiness.check()
    response = jsonify(status="ok" if ready else "error", **report)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if ready else 503


@bp.get("/api/v1/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API, from this app's routes and settings."""
    return jsonify(openapi_document.document(current_app))


@bp.post("/api/v1/broadcasts/<slug>/questions")
@resilient
def submit_question(slug: str):
    """Submit a question: 201 when stored, 200 with the same receipt when client_id repeats."""
    broadcast = intake.get_broadcast(slug)
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationError(fields={"body": "Expected a JSON object."})
    key = apikeys.authenticate_key(request.headers.get("Authorization"))
    # An integrator's key submits for many people: no per-address limit; anonymous callers have one.
    question, change = intake.submit_question(broadcast, data, channel=Channel.API, api_key=key,
                                              default_language=current_language(),
                                              source="" if key else limits.source_hash(request.remote_addr))
    publish(change)
    body = own_question(question)
    body["registered_at"] = body.pop("created_at")
    return _no_store(jsonify(body)), (201 if change is not None else 200)


@bp.get("/api/v1/broadcasts/<slug>")
def broadcast_feed(slug: str):
    """The broadcast's public state: settings and the questions the audience sees."""
    broadcast = intake.get_broadcast(slug)
    return jsonify(version=broadcast.public_version, settings=broadcast_settings(broadcast),
                   questions=[public_question(q, broadcast) for q in desk.audience_questions(broadcast)])


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/v1/appeals/<code>")
@resilient
def appeal_status(code: str):
    """An appeal by its number alone: the status and dates (rate-limited per address)."""
    limits.count_lookup(request.remote_addr)
    appeal = appeals.by_code(code)
    if appeal is None:
        raise NotFound(_l("No appeal has this tracking number."))
    return jsonify(appeal_status_view(appeal))


@bp.get("/api/v1/appeals/<code>/<access>")
@resilient
def appeal_private(code: str, access: str):
    """The applicant's view of an appeal (number and access code): dates, public history, answer; no personal data."""
    appeal = appeals.by_public_address(code, access)
    if appeal is None:
        limits.count_lookup(request.remote_addr)  # a wrong access code counts like a lookup by number
        raise NotFound(_l("No appeal has this tracking number and access code."))
    return _no_store(jsonify(public_appeal(appeal)))
