"""Open311 GeoReport v2 under /open311/v2/: categories as services, appeals as service requests.

Field names follow the GeoReport v2 specification; appeal statuses map to open/closed and the
full status goes into status_notes. Errors are GeoReport's list of {code, description}. Every endpoint
answers in XML (`.xml`, the spec's required format) and JSON (`.json`), both rendered by `georeport`
from one representation; services are `realtime` (POST returns the service_request_id).

Appeals are private to their applicants. An integrator's key (the `api_key` parameter, as GeoReport
clients such as FixMyStreet send it, or `Authorization: Bearer`) reads in full the requests it filed
itself; listing needs a key and lists only those. Without a key (or for another's request) one
request by its id shows the spec's minimum: its id, open/closed and the dates (rate-limited per
address), never the description, the answer, the address or the coordinates."""
from __future__ import annotations

import math
import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, request
from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import links
from ..extensions import db
from ..models import Appeal, Category, Channel
from ..permissions import filed_by, key_filed
from ..services import apikeys, appeals, desk, limits, wording
from ..services.language import current_language
from ..services.appeal_list import unfinished_condition
from ..services.database import resilient
from ..errors import Forbidden, NotFound, ServiceError, ValidationError
from ..services.fields import parse_id, valid_client_id
from . import georeport

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
FMT = "<any(json, xml):fmt>"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
MAX_RESULTS = 1000
QUESTION_ONLY_NOTICE = _l("Registered as a question only: without a name and a contact it is not an official appeal, "
                          "and no answer is due by a date.")
DEFAULT_DAYS = 90


@bp.errorhandler(ServiceError)
def georeport_error(exc: ServiceError):
    """GeoReport v2 errors: a list of {code, description}, in the format the URL asks for."""
    db.session.rollback()
    description = str(exc.message)
    if exc.fields:  # named as the integrator sent them (GeoReport's names, not our columns)
        description += " " + "; ".join(f"{_spec_name(k)}: {v}" for k, v in exc.fields.items())
    headers = {"Retry-After": str(exc.detail["retry_after"])} if "retry_after" in exc.detail else {}
    if exc.status == 401:  # RFC 9110 11.6.1: say how to authenticate
        headers["WWW-Authenticate"] = 'Bearer realm="companion"'
    return georeport.errors(exc.status, description, _fmt(), headers)


# our fields -> the GeoReport v2 parameters they come from
SPEC_NAMES = {"text": "description", "author_name": "first_name/last_name", "address": "address_string"}


def _spec_name(field: str) -> str:
    if field == "contact":
        sent = (request.get_json(silent=True) if request.is_json else request.form) or {}
        return "email" if isinstance(sent, dict) and sent.get("email") or not request.is_json and request.form.get("email") else "phone"
    return SPEC_NAMES.get(field, field)


def _email(value):
    """The `email` field as sent; one without an "@" is refused as an e-mail address (never taken for a phone)."""
    if isinstance(value, str) and value.strip() and "@" not in value:
        raise ValidationError(fields={"contact": _l("This e-mail address is not valid.")})
    return value


def _fmt() -> str:
    return (request.view_args or {}).get("fmt") or georeport.format_of(request.path)


def _answer(body, root: str, status: int = 200):
    return georeport.render(body, root, _fmt(), status)


def _local_iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).isoformat(timespec="seconds")


def service(category: Category) -> dict:
    """A category as a GeoReport service."""
    locale = current_language()
    return {"service_code": str(category.id), "service_name": category.name(locale),
            "description": category.name(locale), "metadata": False, "type": "realtime", "keywords": "",
            "group": category.department.name(locale) if category.department else ""}


# what a request shows to whoever knows only its id: the GeoReport fields a status check needs
PUBLIC_FIELDS = ("service_request_id", "status", "requested_datetime", "updated_datetime", "expected_datetime")


def service_request_minimum(appeal: Appeal) -> dict:
    """An appeal as a GeoReport request for anyone with its id: the status and dates, every other field null."""
    full = service_request(appeal)
    return {k: (v if k in PUBLIC_FIELDS else None) for k, v in full.items()}


def _request_key():
    """The integrator's key of this request (api_key parameter or Bearer header), None without one;
    a wrong key is refused (403, or 401 for a wrong Bearer header)."""
    value = request.args.get("api_key")
    if value is None:
        return apikeys.authenticate_key(request.headers.get("Authorization"))
    key = apikeys.key_by_value(value)
    if key is None:
        raise Forbidden(_l("A valid api_key is required."))
    return key


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def service_request(appeal: Appeal) -> dict:
    """An appeal as a GeoReport service request, for the integrator that filed it (no name or contact)."""
    locale = current_language()
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    extra = appeal.open311_extra or {}
    notes = appeals.status_label(appeal.status, appeal.follow_up)
    if appeal.forwarded_to:
        notes += f": {appeal.forwarded_to}"
    elif appeal.extension_reason and appeal.status == "extended":
        notes += f": {appeal.extension_reason}"
    elif appeal.leave_ground:
        notes += f": {wording.ground_label(appeal.leave_ground)}"
    # a question only (no name or no contact) has no statutory term: nothing is expected by a date
    due = datetime.combine(appeal.due_date, time(18, 0), tzinfo=zone) if appeal.statutory is not False else None
    return {"service_request_id": appeal.tracking_code, "status": "open" if appeal.is_open else "closed",
            "status_notes": notes, "service_name": appeal.category.name(locale) if appeal.category else None,
            "service_code": str(appeal.category_id) if appeal.category_id else None, "description": appeal.text,
            "agency_responsible": appeal.department.name(locale) if appeal.department else None,
            "service_notice": appeal.answer or None, "requested_datetime": _local_iso(appeal.received_at),
            "updated_datetime": _local_iso(appeal.updated_at), "expected_datetime": due.isoformat(timespec="seconds") if due else None,
            "address": appeal.address or None, "address_id": extra.get("address_id"), "zipcode": None,
            "lat": _finite(appeal.lat), "long": _finite(appeal.long), "media_url": (extra.get("media_url") or [None])[0]}


def _finite(value: float | None) -> float | None:
    """A stored coordinate, or None for one stored as inf or nan before they were refused (JSON has neither)."""
    return value if value is not None and math.isfinite(value) else None


def _when(name: str) -> datetime | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if not 1900 <= moment.year <= 2999:  # converting 0001 or 9999 to UTC overflows
            raise ValueError(value)
    except ValueError:
        raise ValidationError(fields={name: _l("Enter a date and time in ISO 8601 (2026-03-19T10:00:00+05:00).")}) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(current_app.config["TIMEZONE"]))


@bp.get(f"/discovery.{FMT}")
def discovery(fmt: str):
    """Service Discovery: where the GeoReport v2 endpoint is, its formats and how to get a key."""
    changeset = current_app.config["OPEN311_CHANGESET"]
    return _answer({
        "changeset": changeset,
        "contact": current_app.config["OPEN311_CONTACT"] or str(_l(
            "Write to the office's administrator for help with this interface.")),
        "key_service": current_app.config["OPEN311_KEY_SERVICE"] or str(_l(
            "The office's administrator issues api_key values to the systems that file requests.")),
        "endpoints": [{"specification": SPECIFICATION, "url": links.base_url() + bp.url_prefix, "changeset": changeset, "type": "production",
                       "formats": [georeport.CONTENT_TYPES["xml"].split(";")[0],
                                   georeport.CONTENT_TYPES["json"].split(";")[0]]}]}, "discovery")


@bp.get(f"/services.{FMT}")
def services(fmt: str):
    """The categories residents and integrators can file requests under."""
    return _answer([service(c) for c in desk.categories()], "services")


@bp.get(f"/services/<code>.{FMT}")
def service_definition(code: str, fmt: str):
    """A service's extra attributes: none (metadata is false for every service)."""
    category_id = parse_id(code)
    category = db.session.get(Category, category_id) if category_id else None
    if category is None:
        raise NotFound(_l("This category does not exist."))
    return _answer({"service_code": str(category.id), "attributes": []}, "service_definition")


@bp.get(f"/requests.{FMT}")
def requests_list(fmt: str):
    """The key's own service requests filtered by id, service_code, start/end date and status (newest
    first, at most 1000); 403 without a key."""
    key = _request_key()
    if key is None:
        raise Forbidden(_l("A valid api_key is required."))
    query = (select(Appeal).where(filed_by(key))
             .options(selectinload(Appeal.category), selectinload(Appeal.department)))
    ids = [i.strip().upper() for i in request.args.get("service_request_id", "").split(",") if i.strip()]
    if ids:
        query = query.where(Appeal.tracking_code.in_(ids[:MAX_RESULTS]))
    else:
        codes = [c.strip() for c in request.args.get("service_code", "").split(",") if c.strip()]
        if codes:
            category_ids = [parse_id(c) for c in codes]
            if None in category_ids:
                raise ValidationError(fields={"service_code": _l("This category does not exist.")})
            query = query.where(Appeal.category_id.in_(category_ids))
        start, end = _when("start_date"), _when("end_date")
        if start and end and end < start:
            raise ValidationError(fields={"end_date": _l("The end of the range is before its start.")})
        if start is None and end is None:
            start = datetime.now(ZoneInfo(current_app.config["TIMEZONE"])) - timedelta(days=DEFAULT_DAYS)
        if start:
            query = query.where(Appeal.received_at >= start)
        if end:
            query = query.where(Appeal.received_at <= end)
        status = request.args.get("status", "")
        wanted = {s.strip() for s in status.split(",") if s.strip()}
        if wanted - {"open", "closed"}:
            raise ValidationError(fields={"status": _l("Use open or closed.")})
        if wanted == {"open"}:
            query = query.where(unfinished_condition())
        elif wanted == {"closed"}:
            query = query.where(~unfinished_condition())
    rows = db.session.execute(query.order_by(Appeal.received_at.desc(), Appeal.id.desc()).limit(MAX_RESULTS)).scalars()
    return _no_store(_answer([service_request(a) for a in rows], "service_requests"))


@bp.get(f"/requests/<code>.{FMT}")
@resilient
def request_detail(code: str, fmt: str):
    """One service request by its id (the tracking code): in full for the key that filed it, else the minimum."""
    key = _request_key()
    if key is None:
        limits.count_lookup(request.remote_addr)
    appeal = appeals.by_code(code)
    if appeal is None:
        raise NotFound(_l("No appeal has this tracking number."))
    if key_filed(key, appeal):
        return _no_store(_answer([service_request(appeal)], "service_requests"))
    return _answer([service_request_minimum(appeal)], "service_requests")


ATTRIBUTE_KEY = re.compile(r"attribute\[([^\[\]]*)\](\[\])?")
EXTRA_KEYS = ("device_id", "account_id", "address_id")


def _posted() -> tuple[dict, dict]:
    """The POST's fields (form-encoded, as the spec and FixMyStreet send them, or a JSON object) and
    its extras for validate_extra: media_url (repeatable), attribute[code]=value and
    attribute[code][]=value (a multivaluelist), device_id (FixMyStreet may say deviceid), account_id,
    address_id."""
    if request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ValidationError(fields={"body": _l("Expected form fields or a JSON object.")})
        attributes = data.get("attribute") if data.get("attribute") is not None else data.get("attributes")
        extra = {"media_url": data.get("media_url"), "attributes": attributes}
    else:
        form = request.form
        data = {k: form.get(k) for k in form if not k.startswith("attribute[")}
        attributes: dict = {}
        for name in form:
            match = ATTRIBUTE_KEY.fullmatch(name)
            if match is None:
                if name.startswith("attribute["):
                    raise ValidationError(fields={name[:80]: _l("Expected attribute[code]=value.")})
                continue
            values = form.getlist(name)
            attributes[match.group(1)] = values if match.group(2) or len(values) > 1 else values[0]
        extra = {"media_url": form.getlist("media_url"), "attributes": attributes}
    extra.update({k: data.get(k) for k in EXTRA_KEYS})
    if extra["device_id"] in (None, ""):
        extra["device_id"] = data.get("deviceid")
    return data, extra


@bp.post(f"/requests.{FMT}")
@resilient
def create_request(fmt: str):
    """Create an appeal from another system (city 109 centre, e-Otinish, FixMyStreet); needs a valid api_key.

    An optional `client_id` (or Idempotency-Key header) makes a retried POST return the same request;
    without one, the same key's same request within OPEN311_RETRY_WINDOW_SECONDS returns the first."""
    data, extra = _posted()
    key = apikeys.key_by_value(data.get("api_key"))
    if key is None:
        raise Forbidden(_l("A valid api_key is required."))
    name = " ".join(str(data.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
    fields = {"description": data.get("description"), "service_code": data.get("service_code"),
              "address": data.get("address_string") or "", "address_id": data.get("address_id"),
              "lat": data.get("lat"), "long": data.get("long"),
              "author_name": name, "language": data.get("language") or None,
              "contact": _email(data.get("email")) or data.get("phone") or "",
              "received_at": data.get("received_at"), "external_id": data.get("external_id")}
    client_id = data.get("client_id") or request.headers.get("Idempotency-Key") or None
    if client_id is not None and not valid_client_id(client_id, any_text=True):
        raise ValidationError(fields={"client_id": _l("Invalid client id.")})
    window = current_app.config["OPEN311_RETRY_WINDOW_SECONDS"]
    appeal, new = appeals.create_appeal(fields, api_key=key, channel=Channel.OPEN311, client_id=client_id,
                                        extra=extra, retry_window=timedelta(seconds=window) if window > 0 else None)
    # access_code (not in GeoReport): what the integrator hands the applicant to read the appeal at
    # /track/<id>/<access_code>
    notice = (_l("Registered. The answer is due by %(date)s.", date=format_date(appeal.due_date, "long"))
              if appeal.statutory else QUESTION_ONLY_NOTICE)
    body = [{"service_request_id": appeal.tracking_code, "service_notice": str(notice),
             "account_id": (appeal.open311_extra or {}).get("account_id"),
             "access_code": wording.format_access_code(appeal.access_code)}]
    return _no_store(_answer(body, "service_requests", 201 if new else 200))
