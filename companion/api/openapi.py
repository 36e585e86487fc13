"""The OpenAPI 3.1 document served at /api/v1/openapi.json: the paths written here, completed from the
app itself (`document`): field limits from the settings and rules the services validate with, an
operationId per route from the URL map, servers from PUBLIC_URL, and the security schemes."""
from __future__ import annotations

import copy
import re

from ..models import LANGUAGES, AppealStatus
from ..services.fields import CLIENT_ID_SHORTEST, Limit, name_limit

_ERROR = {"$ref": "#/components/schemas/Error"}

# where an appeal from another system comes from (services.appeals.origin_fields); one text for both APIs
_ORIGIN = {
    "received_at": {"type": "string", "format": "date-time", "maxLength": Limit.MOMENT, "description": (
        "When the sending system itself received the appeal, ISO 8601 with its time zone "
        "(2026-03-19T10:00:00+05:00 or ...Z). The statutory clock starts here, not at the import. Refused (400) "
        "when malformed or without a zone, in the future (2 minutes of clock skew allowed), or older than "
        "RECEIVED_AT_MAX_AGE_DAYS (30). Only with an API key.")},
    "external_id": {"type": "string", "description": (  # maxLength: Limit.EXTERNAL_ID (document)
        "The appeal's own number in the sending system, kept and shown to staff. Only with an API key. The "
        "sending system itself is recorded from the API key's name.")},
}


_GEOREPORT_ERROR = {"type": "array", "items": {"type": "object", "properties": {
    "code": {"type": "integer"}, "description": {"type": "string"}}}}


def _georeport_errors(*codes):
    return {str(c): {"description": "Error", "content": {"application/json": {"schema": _GEOREPORT_ERROR}}}
            for c in codes}


def _errors(*codes):
    return {str(c): {"description": "Error", "content": {"application/json": {"schema": _ERROR}}} for c in codes}


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}}


def _limited():
    """429: too many requests from this address; Retry-After says when to try again."""
    return {"429": {"description": "Too many requests from this address", "headers": _RETRY_AFTER,
                    "content": {"application/json": {"schema": _ERROR}}}}


def _unavailable():
    """503: the database did not answer; nothing was stored and the same request may be sent again."""
    return {"503": {"description": "Briefly unavailable: nothing was stored, the same request may be sent again "
                                   "(with the same client_id)", "headers": _RETRY_AFTER,
                    "content": {"application/json": {"schema": _ERROR}}}}


# the rule of services/appeals.is_statutory, told to integrators
QUESTION_RULE = ("A question with both author_name and contact (a phone or an e-mail) is an appeal under the "
                 "Administrative Procedural Code: the office must answer it in writing within 15 working days. "
                 "Without either it is a question only: it gets a tracking code and can be followed and answered "
                 "on air, but it is not an official appeal, has no due date and is left out of the statutory "
                 "statistics.")

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "Companion API", "version": "1.0.0",
             "description": "Questions to the district akim's live broadcast and their tracking codes."},
    "paths": {
        "/api/v1/broadcasts/{slug}/questions": {
            "post": {
                "summary": "Submit a question (idempotent by client_id)",
                "description": QUESTION_RULE + " The receipt's `statutory` says which.",
                "parameters": [{"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/NewQuestion"}}}},
                "responses": {
                    "201": {"description": "Stored", "content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/Receipt"}}}},
                    "200": {"description": "Already stored for this client_id: the same receipt",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Receipt"}}}},
                    **_errors(400, 404, 409, 413), **_limited(), **_unavailable(),
                    "403": {"description": "The sender (its contact) is blocked on every channel: code `blocked`",
                            "content": {"application/json": {"schema": _ERROR}}},
                },
            }
        },
        "/api/v1/broadcasts/{slug}": {
            "get": {"summary": "Public state of a broadcast",
                    "parameters": [{"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "Settings and audience questions", "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/BroadcastFeed"}}}},
                        **_errors(404), **_unavailable()}}
        },
        "/api/v1/appeals/{tracking_code}": {
            "get": {"summary": "An appeal by its number alone: the status and dates, no text or answer "
                               "(rate-limited per address)",
                    "parameters": [{"name": "tracking_code", "in": "path", "required": True,
                                    "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "Status", "content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/AppealStatus"}}}}, **_errors(404), **_limited(),
                        **_unavailable()}}
        },
        "/api/v1/appeals/{tracking_code}/{access_code}": {
            "get": {"summary": "The applicant's view of an appeal: dates, public history, answer (no personal data)",
                    "parameters": [{"name": "tracking_code", "in": "path", "required": True,
                                    "schema": {"type": "string"}},
                                   {"name": "access_code", "in": "path", "required": True, "schema": {"type": "string"},
                                    "description": "The secret on the applicant's talon (dashes and case ignored)"}],
                    "responses": {"200": {"description": "The appeal", "content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/Appeal"}}}},
                        "404": {"description": "No appeal has this number and access code (a wrong code counts "
                                               "against the address's lookup limit)",
                                "content": {"application/json": {"schema": _ERROR}}}, **_limited(), **_unavailable()}}
        },
        "/open311/v2/services.json": {
            "get": {"summary": "Open311 GeoReport v2: the categories as services", "tags": ["Open311"],
                    "responses": {"200": {"description": "Services", "content": {"application/json": {"schema": {
                        "type": "array", "items": {"$ref": "#/components/schemas/Service"}}}}}}}
        },
        "/open311/v2/services/{service_code}.json": {
            "get": {"summary": "Open311: a service's attributes (none: every service has metadata false)", "tags": ["Open311"],
                    "parameters": [{"name": "service_code", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "Definition", "content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/ServiceDefinition"}}}},
                        **_georeport_errors(404)}}
        },
        "/open311/v2/requests.json": {
            "get": {"summary": "Open311: the service requests this api_key filed, newest first, at most 1000; "
                               "90 days by default (a key is required)",
                    "tags": ["Open311"], "parameters": [
                        {"name": "api_key", "in": "query", "schema": {"type": "string"},
                         "description": "The integrator's key (or Authorization: Bearer)"},
                        {"name": "service_request_id", "in": "query", "schema": {"type": "string"},
                         "description": "Comma-separated tracking codes; other filters are ignored"},
                        {"name": "service_code", "in": "query", "schema": {"type": "string"}},
                        {"name": "start_date", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                        {"name": "end_date", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                        {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["open", "closed", "open,closed"]}}],
                    "responses": {"200": {"description": "Requests", "content": {"application/json": {"schema": {
                        "type": "array", "items": {"$ref": "#/components/schemas/ServiceRequest"}}}}},
                        **_georeport_errors(400, 401, 403)}},
            "post": {"summary": "Open311: create an appeal from another system (api_key required)", "tags": ["Open311"],
                     "description": QUESTION_RULE.replace("author_name", "first_name or last_name")
                     + " A question only has expected_datetime null.",
                     "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {
                         "type": "string", "minLength": CLIENT_ID_SHORTEST, "maxLength": Limit.CLIENT_ID},
                         "description": "The client_id, as a header (the body's client_id wins)"}],
                     "requestBody": {"required": True, "content": {
                         "application/x-www-form-urlencoded": {"schema": {
                             "$ref": "#/components/schemas/NewServiceRequestForm"}},
                         "application/json": {"schema": {"$ref": "#/components/schemas/NewServiceRequest"}}}},
                     "responses": {
                         "201": {"description": "Registered", "content": {"application/json": {"schema": {
                             "type": "array", "items": {"$ref": "#/components/schemas/ServiceRequestReceipt"}}}}},
                         "200": {"description": "Already registered for this client_id by this api_key (another "
                                                "key's client_id is another request), or, without a client_id, the "
                                                "same api_key's same service_code, description, name and contact "
                                                "registered within OPEN311_RETRY_WINDOW_SECONDS (600): the first "
                                                "request's receipt", "content": {"application/json": {"schema": {
                                                    "type": "array", "items": {
                                                        "$ref": "#/components/schemas/ServiceRequestReceipt"}}}}},
                         **_georeport_errors(400, 403),
                         "404": {"description": "No service has this service_code",
                                 "content": {"application/json": {"schema": _GEOREPORT_ERROR}}}}},
        },
        "/open311/v2/requests/{service_request_id}.json": {
            "get": {"summary": "Open311: one service request; in full for the api_key that filed it, otherwise only "
                               "its id, open/closed and dates (other fields null; rate-limited per address without a key)",
                    "tags": ["Open311"],
                    "parameters": [{"name": "service_request_id", "in": "path", "required": True, "schema": {"type": "string"}},
                                   {"name": "api_key", "in": "query", "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "A list with the request", "content": {"application/json": {
                        "schema": {"type": "array", "items": {"$ref": "#/components/schemas/ServiceRequest"}}}}},
                        **_georeport_errors(401, 403, 404, 429)}}
        },
        "/open311/v2/discovery.json": {
            "get": {"summary": "Open311 Service Discovery: the GeoReport v2 endpoint, its formats, how to get a key",
                    "tags": ["Open311"],
                    "responses": {"200": {"description": "Discovery", "content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/Discovery"}}}}}}
        },
        "/healthz": {"get": {"summary": "Liveness: the process answers", "responses": {
            "200": {"description": "Alive", "content": {"application/json": {"schema": {
                "type": "object", "required": ["status"], "properties": {
                    "status": {"const": "ok"}, "async_mode": {"type": "string"},
                    "connections": {"type": "integer", "description": "Open Socket.IO connections"}}}}}}}}},
        "/readyz": {"get": {"summary": "Readiness: the process can store questions", "responses": {
            "200": {"description": "Ready (a message queue that does not answer is listed under degraded)",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}},
            "503": {"description": "The database takes no write, or the disk is full; see reasons",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}}}}},
    },
    "components": {"schemas": {
        "NewQuestion": {"type": "object", "required": ["text"], "properties": {
            "text": {"type": "string", "minLength": 1},  # maxLength: the setting (document)
            "author_name": {"type": "string"}, "district": {"type": "string"},
            "contact": {"type": "string", "description": "Phone (Kazakhstan by default) or e-mail"},
            "consent": {"type": "boolean", "description": "The applicant consented to the collection and processing "
                        "of personal data (the text at /privacy); required when contact is given"},
            "show_name": {"type": "boolean", "default": False, "description": "The applicant agreed to have the name "
                          "and district shown on air and on public screens"},
            "language": {"enum": list(LANGUAGES), "description": "The language of the appeal; when absent, "
                         "guessed from the words of the text"},
            "client_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"}, **_ORIGIN}},
        "Receipt": {"type": "object", "description": "The talon's number and access code", "properties": {
            "id": {"type": "integer"}, "tracking_code": {"type": "string"},
            "access_code": {"type": "string", "description": "The applicant's secret: /track/{tracking_code}/{access_code}"},
            "client_id": {"type": "string"}, "status": {"type": "string"},
            "statutory": {"type": ["boolean", "null"],
                          "description": "True: an appeal under the statutory term; false: a question only"},
            "status_label": {"type": "string"}, "text": {"type": "string"},
            "registered_at": {"type": "string", "format": "date-time"},
            "merged_into_code": {"type": ["string", "null"]}}},
        # the appeal's status as a schema of its own: an enum inline in Appeal would be named AppealStatus
        # by generated clients (openapi-python-client), the name of the next schema
        "AppealState": {"type": "string", "enum": [s.value for s in AppealStatus]},
        "AppealStatus": {"type": "object", "properties": {
            "tracking_code": {"type": "string"}, "status": {"$ref": "#/components/schemas/AppealState"},
            "status_label": {"type": "string"},
            "registered_at": {"type": "string", "format": "date-time", "description": "The time of receipt"},
            "registration_date": {"type": "string", "format": "date", "description": "The legal registration date"},
            "statutory": {"type": "boolean"},
            "due_date": {"type": ["string", "null"], "format": "date",
                         "description": "While the statutory clock runs; never for a question only"},
            "answered_at": {"type": ["string", "null"]}, "closed_at": {"type": ["string", "null"]},
            "full": {"const": False}}},
        "Appeal": {"type": "object", "properties": {
            "tracking_code": {"type": "string"}, "status": {"$ref": "#/components/schemas/AppealState"},
            "status_label": {"type": "string"},
            "registered_at": {"type": "string", "format": "date-time", "description": "The time of receipt"},
            "registration_date": {"type": "string", "format": "date", "description": (
                "The legal registration date (APPK art. 64(3)): the next working day when received after working "
                "hours or on a day off")},
            "ground": {"type": ["string", "null"], "description": "The statutory ground it was left without "
                       "consideration on, in plain words"},
            "office": {"type": "string", "description": "The receiving office, in the request's language"},
            "accepted_by": {"type": ["object", "null"], "description": "Who accepted the appeal (talon)",
                            "properties": {"name": {"type": "string"}, "position": {"type": "string"}}},
            "statutory": {"type": "boolean"},
            "due_date": {"type": ["string", "null"], "format": "date", "description": "Null for a question only"},
            "original_due_date": {"type": ["string", "null"], "format": "date"}, "language": {"type": "string"},
            "text": {"type": "string"}, "department": {"type": ["string", "null"]},
            "answer": {"type": ["string", "null"]}, "answered_at": {"type": ["string", "null"]},
            "question_status": {"type": ["string", "null"]},
            "history": {"type": "array", "items": {"type": "object", "properties": {
                "at": {"type": "string"}, "action": {"type": "string"}, "label": {"type": "string"},
                "status": {"type": "string"}, "note": {"type": "string"}}}},
            "full": {"const": True}}},
        "Service": {"type": "object", "properties": {
            "service_code": {"type": "string"}, "service_name": {"type": "string"}, "description": {"type": "string"},
            "metadata": {"type": "boolean"}, "type": {"type": "string"}, "keywords": {"type": "string"},
            "group": {"type": "string"}}},
        "ServiceRequest": {"type": "object", "properties": {
            "service_request_id": {"type": "string"}, "status": {"enum": ["open", "closed"]},
            # null, as every field but the id, the status and the dates, for anyone but the key that filed it
            "status_notes": {"type": ["string", "null"]}, "service_name": {"type": ["string", "null"]},
            "service_code": {"type": ["string", "null"]}, "description": {"type": ["string", "null"]},
            "agency_responsible": {"type": ["string", "null"]}, "service_notice": {"type": ["string", "null"]},
            "requested_datetime": {"type": "string", "format": "date-time"},
            "updated_datetime": {"type": "string", "format": "date-time"},
            "expected_datetime": {"type": ["string", "null"], "format": "date-time"}, "address": {"type": ["string", "null"]},
            "address_id": {"type": ["string", "null"]}, "zipcode": {"type": "null"},
            "lat": {"type": ["number", "null"]}, "long": {"type": ["number", "null"]},
            "media_url": {"type": ["string", "null"], "description": "The first media_url sent"}}},
        "NewServiceRequest": {"type": "object", "required": ["api_key", "service_code", "description"],
                              "description": "A location is required: lat and long together, or address_string, or "
                                             "address_id. GeoReport v2 makes description optional; this office "
                                             "registers appeals by their text and refuses one without (400).",
                              "properties": {
            "api_key": {"type": "string", "description": "The integrator's key, in the body (an Authorization "
                                                         "header or a query api_key is not read here)"},
            "jurisdiction_id": {"type": "string", "description": "Ignored: one office"},
            "service_code": {"type": "string", "description": "Unknown: 404"},
            "description": {"type": "string", "minLength": 1,  # maxLength: the setting (document)
                            "description": "At most OPEN311_DESCRIPTION_MAX_LENGTH characters"},
            "address_string": {"type": "string", "maxLength": Limit.ADDRESS},
            "address_id": {"type": "string", "maxLength": Limit.EXTRA_ID},
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "long": {"type": "number", "minimum": -180, "maximum": 180},
            "media_url": {"oneOf": [{"type": "string"}, {"type": "array", "maxItems": 10, "items": {"type": "string"}}],
                          "description": "http or https addresses (repeat the field for several); kept for staff"},
            "attribute": {"type": "object", "additionalProperties": {"oneOf": [
                {"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                "description": "Form-encoded as attribute[code]=value and attribute[code][]=value; at most 50, "
                               "kept as sent and shown to staff"},
            "device_id": {"type": "string", "maxLength": Limit.EXTRA_ID},
            "account_id": {"type": "string", "maxLength": Limit.EXTRA_ID},
            "email": {"type": "string", "format": "email", "maxLength": Limit.CONTACT},
            "phone": {"type": "string", "maxLength": Limit.CONTACT, "description": "Checked as a phone number (E.164 when stored)"},
            "first_name": {"type": "string", "maxLength": Limit.AUTHOR_NAME,
                           "description": f"With last_name, at most {Limit.AUTHOR_NAME} characters together"},
            "last_name": {"type": "string", "maxLength": Limit.AUTHOR_NAME}, "language": {"enum": list(LANGUAGES)},
            "client_id": {"type": "string", "minLength": CLIENT_ID_SHORTEST, "maxLength": Limit.CLIENT_ID,
                          "description": "Makes a retried POST with the same api_key return the same request"},
            **_ORIGIN}},
        "ServiceDefinition": {"type": "object", "required": ["service_code", "attributes"], "properties": {
            "service_code": {"type": "string"},
            "attributes": {"type": "array", "maxItems": 0, "items": {"$ref": "#/components/schemas/ServiceAttribute"},
                           "description": "Always empty here: no service asks for attributes"}}},
        "ServiceAttribute": {"type": "object", "description": "GeoReport v2's attribute of a service definition",
                             "properties": {
            "variable": {"type": "boolean"}, "code": {"type": "string"},
            "datatype": {"enum": ["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]},
            "required": {"type": "boolean"}, "datatype_description": {"type": "string"},
            "order": {"type": "integer"}, "description": {"type": "string"},
            "values": {"type": "array", "items": {"type": "object", "properties": {
                "key": {"type": "string"}, "name": {"type": "string"}}}}}},
        "ServiceRequestReceipt": {"type": "object", "properties": {
            "service_request_id": {"type": "string"}, "service_notice": {"type": "string"},
            "account_id": {"type": ["string", "null"]},
            "access_code": {"type": "string", "description": "Not in GeoReport: hand it to the applicant, who reads "
                                                               "the appeal at /track/{service_request_id}/{access_code}"}}},
        "BroadcastFeed": {"type": "object", "properties": {
            "version": {"type": "integer", "description": "Grows with every change the audience sees"},
            "settings": {"type": "object", "properties": {
                "slug": {"type": "string"}, "status": {"type": "string"}, "pre_moderation": {"type": "boolean"},
                "public_feed": {"type": "boolean"}, "anonymous_allowed": {"type": "boolean"},
                "questions_open": {"type": "boolean"}, "show_asker": {"type": "boolean"},
                "overlay_cleared": {"type": "boolean"}, "accepting_questions": {"type": "boolean"}}},
            "questions": {"type": "array", "items": {"type": "object", "required": ["id", "visible"], "properties": {
                "id": {"type": "integer"}, "visible": {"type": "boolean"}, "text": {"type": "string"},
                "status": {"type": "string"}, "votes": {"type": "integer"}, "asker_count": {"type": "integer"},
                "author_name": {"type": "string"}, "district": {"type": "string"},
                "created_at": {"type": ["string", "null"], "format": "date-time"}}}}}},
        "Readiness": {"type": "object", "required": ["status"], "properties": {
            "status": {"enum": ["ok", "error"]}, "database": {"enum": ["ok", "error"]}, "disk": {"enum": ["ok", "error"]},
            "message_queue": {"enum": ["ok", "error"]},
            "reasons": {"type": "object", "additionalProperties": {"type": "string"}},
            "degraded": {"type": "array", "items": {"type": "string"}}}},
        "Discovery": {"type": "object", "properties": {
            "changeset": {"type": "string"}, "contact": {"type": "string"}, "key_service": {"type": "string"},
            "endpoints": {"type": "array", "items": {"type": "object", "properties": {
                "specification": {"type": "string"}, "url": {"type": "string"}, "changeset": {"type": "string"},
                "type": {"enum": ["production", "test"]},
                "formats": {"type": "array", "items": {"type": "string"}}}}}}},
        "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
            "code": {"type": "string"}, "message": {"type": "string"}, "fields": {"type": "object"}}}}},
    }},
}


# presenters.appeal_status and public_appeal write every key of these (null when empty): all required, which
# also spares generated clients a check of the optional const `full` (openapi-python-client 0.29 writes
# `if full != Trueand ...` for an optional boolean const, a syntax error)
for _schema in ("AppealStatus", "Appeal"):
    OPENAPI["components"]["schemas"][_schema]["required"] = list(OPENAPI["components"]["schemas"][_schema]["properties"])


def _as_xml(node):
    """The same operation answering GeoReport's XML: every application/json response as text/xml."""
    if isinstance(node, dict):
        return {("text/xml" if key == "application/json" else key): _as_xml(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_as_xml(item) for item in node]
    return node


# every Open311 operation answers in XML too (the spec's required format): its .xml twin, generated so the
# two cannot drift; a request body stays as it is (form-encoded, or JSON)
for _path in [p for p in OPENAPI["paths"] if p.startswith("/open311/") and p.endswith(".json")]:
    _twin = {}
    for _method, _operation in OPENAPI["paths"][_path].items():
        _twin[_method] = {**_as_xml({k: v for k, v in _operation.items() if k != "requestBody"}),
                          **({"requestBody": _operation["requestBody"]} if "requestBody" in _operation else {}),
                          "summary": _operation["summary"] + " (XML)"}
    OPENAPI["paths"][_path[:-len(".json")] + ".xml"] = _twin


# who may call what: an operationId (the view's name) -> its security requirement ({} is "no key")
_OPTIONAL_KEY = [{}, {"bearerKey": []}]
_KEY = [{"bearerKey": []}, {"apiKeyQuery": []}]
# (create_request has none: its api_key is a field of the body, as GeoReport v2 sends it; no scheme says that)
SECURITY = {"submit_question": _OPTIONAL_KEY, "requests_list": _KEY,
            "request_detail": [{}, {"bearerKey": []}, {"apiKeyQuery": []}]}
SECURITY_SCHEMES = {
    "bearerKey": {"type": "http", "scheme": "bearer", "description": "An integrator's API key (Administration, "
                  "API keys): `Authorization: Bearer <key>`"},
    "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key",
                    "description": "The same key as Open311's api_key parameter"},
}
LICENSE = {"name": "Proprietary: the district office's own software, no licence granted to others"}


def _as_form(schema: dict, attribute_field: str) -> dict:
    """The form-encoded twin of a JSON body's schema (NewServiceRequest): the same fields, each a flat
    string as a form sends it (numbers as text, one media_url per field), and the attributes as
    attribute[code] fields, not one object; made from the JSON schema so the two cannot drift."""
    fields = {}
    for name, field in schema["properties"].items():
        if name == "attribute":
            continue
        if "oneOf" in field:  # media_url: one text, or several: the field repeated
            field = {**next(f for f in field["oneOf"] if f.get("type") == "string"), "description": field["description"]}
        elif field.get("type") == "number":
            field = {"type": "string", "description": f"A number from {field['minimum']} to {field['maximum']}"}
        fields[name] = copy.deepcopy(field)
    attribute = schema["properties"]["attribute"]["description"]
    return {"type": "object", "required": list(schema["required"]), "description": schema["description"],
            "properties": fields, "patternProperties": {attribute_field: {"type": "string", "description": attribute}},
            # other fields are ignored; a generated client sends its attribute[code] fields as these
            "additionalProperties": {"type": "string"}}


def _shape(path: str) -> str:
    """A path with its parameters blanked: /appeals/<code> and /appeals/{tracking_code} are the same route."""
    # (and Open311's /requests.json and /requests.xml are the one route /requests.<fmt>)
    return re.sub(r"\.(json|xml)$", ".{}", re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path))


def document(app) -> dict:
    """The OpenAPI document for `app`: OPENAPI completed from the settings the services validate with
    (the question's, the name's and the Open311 description's length; the form body from the JSON one), the URL map (an operationId per operation: the view's name)
    and PUBLIC_URL (the server)."""
    from .open311 import ATTRIBUTE_KEY

    cfg = app.config
    doc = copy.deepcopy(OPENAPI)
    doc["info"]["license"] = LICENSE
    doc["servers"] = [{"url": cfg["PUBLIC_URL"].rstrip("/") or "/", "description": "This office's server"}]
    doc["components"]["securitySchemes"] = SECURITY_SCHEMES
    question = doc["components"]["schemas"]["NewQuestion"]["properties"]
    question["text"]["maxLength"] = cfg["QUESTION_MAX_LENGTH"]
    question["author_name"]["maxLength"] = question["district"]["maxLength"] = name_limit(cfg)
    question["contact"]["maxLength"] = Limit.CONTACT
    request = doc["components"]["schemas"]["NewServiceRequest"]
    request["properties"]["description"]["maxLength"] = cfg["OPEN311_DESCRIPTION_MAX_LENGTH"]
    for schema in (question, request["properties"]):
        schema["external_id"]["maxLength"] = Limit.EXTERNAL_ID
    # attribute[code]=value and attribute[code][]=value (a multivaluelist), the pattern the view reads them with
    doc["components"]["schemas"]["NewServiceRequestForm"] = _as_form(request, f"^{ATTRIBUTE_KEY.pattern}$")
    views = {}
    for rule in app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            views[(_shape(rule.rule), method.lower())] = rule.endpoint.rpartition(".")[2]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            name = views.get((_shape(path), method))
            if name is None:
                raise LookupError(f"the OpenAPI document describes {method.upper()} {path}, which no route serves")
            # an Open311 operation's XML twin is the same view: its id says the format (ids are unique)
            operation.setdefault("operationId", name + ("_xml" if path.endswith(".xml") else ""))
            if name in SECURITY:
                operation.setdefault("security", SECURITY[name])
    return doc
