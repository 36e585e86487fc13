"""The OpenAPI 3.1 document served at /api/v1/openapi.json."""

_ERROR = {"$ref": "#/components/schemas/Error"}


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
            "get": {"summary": "Public status of a question/appeal by tracking code (no personal data)",
                    "parameters": [{"name": "tracking_code", "in": "path", "required": True,
                                    "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "Status", "content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/Receipt"}}}}, **_errors(404)}}
        },
        "/healthz": {"get": {"summary": "Health check", "responses": {
            "200": {"description": "Healthy"}, "503": {"description": "Database or message queue down"}}}},
    },
    "components": {"schemas": {
        "NewQuestion": {"type": "object", "required": ["text"], "properties": {
            "text": {"type": "string", "maxLength": 1000},
            "author_name": {"type": "string"}, "district": {"type": "string"},
            "contact": {"type": "string", "description": "Phone (Kazakhstan by default) or e-mail"},
            "consent": {"type": "boolean", "description": "Required when contact is given"},
            "language": {"enum": ["kk", "ru", "en"]},
            "client_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"}}},
        "Receipt": {"type": "object", "properties": {
            "id": {"type": "integer"}, "tracking_code": {"type": "string"}, "status": {"type": "string"},
            "status_label": {"type": "string"}, "text": {"type": "string"},
            "registered_at": {"type": "string", "format": "date-time"},
            "merged_into_code": {"type": ["string", "null"]}}},
        "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
            "code": {"type": "string"}, "message": {"type": "string"}, "fields": {"type": "object"}}}}},
    }},
}
