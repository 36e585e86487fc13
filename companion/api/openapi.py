"""The OpenAPI 3.1 document served at /api/v1/openapi.json."""

_ERROR = {"$ref": "#/components/schemas/Error"}


_GEOREPORT_ERROR = {"type": "array", "items": {"type": "object", "properties": {
    "code": {"type": "integer"}, "description": {"type": "string"}}}}


def _georeport_errors(*codes):
    return {str(c): {"description": "Error", "content": {"application/json": {"schema": _GEOREPORT_ERROR}}}
            for c in codes}


def _errors(*codes):
    return {str(c): {"description": "Error", "content": {"application/json": {"schema": _ERROR}}} for c in codes}


OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "Companion API", "version": "1.0.0",
             "description": "Questions to the district akim's live broadcast and their tracking codes."},
    "paths": {
        "/api/v1/broadcasts/{slug}/questions": {
            "post": {
                "summary": "Submit a question (idempotent by client_id)",
                "parameters": [{"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/NewQuestion"}}}},
                "responses": {
                    "201": {"description": "Stored", "content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/Receipt"}}}},
                    "200": {"description": "Already stored for this client_id: the same receipt",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Receipt"}}}},
                    **_errors(400, 404, 409, 413),
                },
            }
        },
        "/api/v1/broadcasts/{slug}": {
            "get": {"summary": "Public state of a broadcast",
                    "parameters": [{"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "Settings and audience questions"}, **_errors(404)}}
        },
        "/api/v1/appeals/{tracking_code}": {
            "get": {"summary": "An appeal by its number alone: the status and dates, no text or answer "
                               "(rate-limited per address)",
                    "parameters": [{"name": "tracking_code", "in": "path", "required": True,
                                    "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "Status", "content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/AppealStatus"}}}}, **_errors(404, 429)}}
        },
        "/api/v1/appeals/{tracking_code}/{access_code}": {
            "get": {"summary": "The applicant's view of an appeal: dates, public history, answer (no personal data)",
                    "parameters": [{"name": "tracking_code", "in": "path", "required": True,
                                    "schema": {"type": "string"}},
                                   {"name": "access_code", "in": "path", "required": True, "schema": {"type": "string"},
                                    "description": "The secret on the applicant's receipt (dashes and case ignored)"}],
                    "responses": {"200": {"description": "The appeal", "content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/Appeal"}}}},
                        "404": {"description": "No appeal has this number and access code (a wrong code counts "
                                               "against the address's lookup limit)",
                                "content": {"application/json": {"schema": _ERROR}}}, **_errors(429)}}
        },
        "/open311/v2/services.json": {
            "get": {"summary": "Open311 GeoReport v2: the categories as services", "tags": ["Open311"],
                    "responses": {"200": {"description": "Services", "content": {"application/json": {"schema": {
                        "type": "array", "items": {"$ref": "#/components/schemas/Service"}}}}}}}
        },
        "/open311/v2/services/{service_code}.json": {
            "get": {"summary": "Open311: a service's attributes (none)", "tags": ["Open311"],
                    "parameters": [{"name": "service_code", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "Definition"}, **_georeport_errors(404)}}
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
                     "requestBody": {"required": True, "content": {
                         "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/NewServiceRequest"}},
                         "application/json": {"schema": {"$ref": "#/components/schemas/NewServiceRequest"}}}},
                     "responses": {
                         "201": {"description": "Registered", "content": {"application/json": {"schema": {
                             "type": "array", "items": {"$ref": "#/components/schemas/ServiceRequestReceipt"}}}}},
                         "200": {"description": "Already registered for this client_id by this api_key: the same "
                                                "receipt (another key's client_id is another request)"},
                         **_georeport_errors(400, 403)}},
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
        "/healthz": {"get": {"summary": "Liveness: the process answers", "responses": {
            "200": {"description": "Alive"}}}},
        "/readyz": {"get": {"summary": "Readiness: the process can store questions", "responses": {
            "200": {"description": "Ready (a message queue that does not answer is listed under degraded)"},
            "503": {"description": "The database takes no write, or the disk is full; see reasons"}}}},
    },
    "components": {"schemas": {
        "NewQuestion": {"type": "object", "required": ["text"], "properties": {
            "text": {"type": "string", "maxLength": 1000},
            "author_name": {"type": "string"}, "district": {"type": "string"},
            "contact": {"type": "string", "description": "Phone (Kazakhstan by default) or e-mail"},
            "consent": {"type": "boolean", "description": "The applicant consented to the collection and processing "
                        "of personal data (the text at /privacy); required when contact is given"},
            "show_name": {"type": "boolean", "default": False, "description": "The applicant agreed to have the name "
                          "and district shown on air and on public screens"},
            "language": {"enum": ["kk", "ru", "en"], "description": "The language of the appeal; when absent, "
                         "guessed from the words of the text"},
            "client_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"}}},
        "Receipt": {"type": "object", "properties": {
            "id": {"type": "integer"}, "tracking_code": {"type": "string"},
            "access_code": {"type": "string", "description": "The applicant's secret: /track/{tracking_code}/{access_code}"},
            "client_id": {"type": "string"}, "status": {"type": "string"},
            "status_label": {"type": "string"}, "text": {"type": "string"},
            "registered_at": {"type": "string", "format": "date-time"},
            "merged_into_code": {"type": ["string", "null"]}}},
        "AppealStatus": {"type": "object", "properties": {
            "tracking_code": {"type": "string"}, "status": {"type": "string"}, "status_label": {"type": "string"},
            "registered_at": {"type": "string", "format": "date-time"},
            "due_date": {"type": ["string", "null"], "format": "date"},
            "answered_at": {"type": ["string", "null"]}, "closed_at": {"type": ["string", "null"]},
            "full": {"const": False}}},
        "Appeal": {"type": "object", "properties": {
            "tracking_code": {"type": "string"}, "status": {"type": "string", "enum": [
                "registered", "assigned", "in_progress", "extended", "answered", "answered_on_air", "closed",
                "forwarded", "left_without_consideration"]},
            "status_label": {"type": "string"}, "registered_at": {"type": "string", "format": "date-time"},
            "office": {"type": "string"}, "due_date": {"type": "string", "format": "date"},
            "original_due_date": {"type": "string", "format": "date"}, "language": {"type": "string"},
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
            "status_notes": {"type": "string"}, "service_name": {"type": ["string", "null"]},
            "service_code": {"type": ["string", "null"]}, "description": {"type": "string"},
            "agency_responsible": {"type": ["string", "null"]}, "service_notice": {"type": ["string", "null"]},
            "requested_datetime": {"type": "string", "format": "date-time"},
            "updated_datetime": {"type": "string", "format": "date-time"},
            "expected_datetime": {"type": "string", "format": "date-time"}, "address": {"type": ["string", "null"]},
            "lat": {"type": ["number", "null"]}, "long": {"type": ["number", "null"]}}},
        "NewServiceRequest": {"type": "object", "required": ["api_key", "description"], "properties": {
            "api_key": {"type": "string"}, "service_code": {"type": "string"}, "description": {"type": "string"},
            "address_string": {"type": "string"}, "lat": {"type": "number"}, "long": {"type": "number"},
            "email": {"type": "string"}, "phone": {"type": "string"}, "first_name": {"type": "string"},
            "last_name": {"type": "string"}, "language": {"enum": ["kk", "ru", "en"]},
            "client_id": {"type": "string", "description": "Makes a retried POST with the same api_key return the "
                                                           "same request"}}},
        "ServiceRequestReceipt": {"type": "object", "properties": {
            "service_request_id": {"type": "string"}, "service_notice": {"type": "string"},
            "account_id": {"type": ["string", "null"]},
            "access_code": {"type": "string", "description": "Not in GeoReport: hand it to the applicant, who reads "
                                                               "the appeal at /track/{service_request_id}/{access_code}"}}},
        "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
            "code": {"type": "string"}, "message": {"type": "string"}, "fields": {"type": "object"}}}}},
    }},
}
