"""The OpenAPI document and the HTTP around it (issue 23): a valid document made from the app's own
routes and settings, an Allow header on every 405, 429 and 503 documented with Retry-After."""
from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate
from sqlalchemy import text

from companion.extensions import db

from .test_appeals_http import ask

SUBMIT = "/api/v1/broadcasts/{slug}/questions"
SQLITE = pytest.mark.parametrize("app", ["sqlite"], indirect=True)


def document(app) -> dict:
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json


def operations(doc):
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


@SQLITE
def test_the_document_is_valid_openapi_3_1(app):
    validate(document(app))  # openapi-spec-validator: raises with the first problem


@SQLITE
def test_every_operation_has_an_id_a_schema_for_success_and_the_document_its_metadata(app):
    doc = document(app)
    ids = [operation["operationId"] for _p, _m, operation in operations(doc)]
    assert len(ids) == len(set(ids)) >= 9 and "submit_question" in ids
    assert doc["info"]["license"]["name"] and doc["servers"][0]["url"]
    assert set(doc["components"]["securitySchemes"]) == {"bearerKey", "apiKeyQuery"}
    post = doc["paths"][SUBMIT]["post"]
    assert post["security"] == [{}, {"bearerKey": []}]  # a key is optional here
    # Open311's POST reads its key from the body only: the document promises no header or query key there
    create = doc["paths"]["/open311/v2/requests.json"]["post"]
    assert "security" not in create and "api_key" in doc["components"]["schemas"]["NewServiceRequest"]["required"]
    for path, method, operation in operations(doc):
        for status, response in operation["responses"].items():
            if status in ("200", "201"):  # Open311's in JSON and in XML (text/xml)
                assert response["content"], (method, path, status)
                for media, content in response["content"].items():
                    assert content["schema"], (method, path, status, media)
    assert not list(arrays_without_items(doc))  # a generated client drops such a response


def arrays_without_items(node, where="#"):
    """Where the document has an array schema that does not say what its items are."""
    if isinstance(node, dict):
        if node.get("type") == "array" and "items" not in node and "prefixItems" not in node:
            yield where
        for key, value in node.items():
            yield from arrays_without_items(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from arrays_without_items(value, f"{where}/{i}")


@SQLITE
def test_rate_limits_and_unavailability_are_documented_with_retry_after(app):
    doc = document(app)
    for path in (SUBMIT, "/api/v1/appeals/{tracking_code}", "/api/v1/appeals/{tracking_code}/{access_code}"):
        responses = next(iter(doc["paths"][path].values()))["responses"]
        for status in ("429", "503"):
            assert "Retry-After" in responses[status]["headers"], (path, status)
    assert "503" in doc["paths"]["/readyz"]["get"]["responses"]


@SQLITE
def test_servers_come_from_the_public_url(app):
    app.config["PUBLIC_URL"] = "https://akimat.example.kz/"
    assert document(app)["servers"][0]["url"] == "https://akimat.example.kz"


@SQLITE
def test_the_text_limit_in_the_document_is_the_setting_the_service_validates_with(app):
    client = app.test_client()
    assert document(app)["components"]["schemas"]["NewQuestion"]["properties"]["text"]["maxLength"] == 1000
    app.config["QUESTION_MAX_LENGTH"] = 300
    schema = document(app)["components"]["schemas"]["NewQuestion"]["properties"]
    assert schema["text"]["maxLength"] == 300
    assert schema["author_name"]["maxLength"] == app.config["NAME_MAX_LENGTH"]
    url = "/api/v1/broadcasts/demo/questions"
    too_long = client.post(url, json={"text": "а" * 301})
    assert too_long.status_code == 400 and "text" in too_long.json["error"]["fields"]
    assert client.post(url, json={"text": "а" * 300}).status_code == 201


@SQLITE
def test_open311_form_and_json_bodies_have_their_own_schemas_and_the_description_limit_is_the_setting(app):
    app.config["OPEN311_DESCRIPTION_MAX_LENGTH"] = 2500
    doc = document(app)
    content = doc["paths"]["/open311/v2/requests.json"]["post"]["requestBody"]["content"]
    form = content["application/x-www-form-urlencoded"]["schema"]["$ref"].rpartition("/")[2]
    assert content["application/json"]["schema"]["$ref"].endswith("/NewServiceRequest") and form != "NewServiceRequest"
    schemas = doc["components"]["schemas"]
    assert schemas["NewServiceRequest"]["properties"]["description"]["maxLength"] == 2500
    fields = schemas[form]["properties"]
    assert fields["description"]["maxLength"] == 2500
    assert "attribute" not in fields and {f["type"] for f in fields.values() if "type" in f} == {"string"}
    (pattern, _), = schemas[form]["patternProperties"].items()
    assert re.fullmatch(pattern, "attribute[size][]") and not re.fullmatch(pattern, "attribute[a][b]")
    assert schemas[form]["required"] == schemas["NewServiceRequest"]["required"]


@SQLITE
def test_every_405_names_the_allowed_methods(app):
    client = app.test_client()
    doc = document(app)
    concrete = {"{slug}": "demo", "{tracking_code}": "SRK-2026-000001", "{access_code}": "x",
                "{service_code}": "1", "{service_request_id}": "SRK-2026-000001"}
    checked = 0
    for path, methods in doc["paths"].items():
        url = path
        for name, value in concrete.items():
            url = url.replace(name, value)
        response = client.delete(url)
        assert response.status_code == 405, (url, response.status_code)
        allowed = {m.strip() for m in response.headers["Allow"].split(",")}
        assert {m.upper() for m in methods} <= allowed and "DELETE" not in allowed, (url, allowed)
        checked += 1
    assert checked >= 9
    page = client.post("/privacy")  # an HTML page says it too
    assert page.status_code == 405 and page.mimetype == "text/html" and "GET" in page.headers["Allow"]


@SQLITE
def test_a_database_that_does_not_answer_is_a_503_with_retry_after(app):
    code = ask(app)["tracking_code"]
    with app.app_context():  # the appeals table gone: every read of it fails in the database
        db.session.execute(text("ALTER TABLE appeal RENAME TO appeal_gone"))
        db.session.commit()
    response = app.test_client().get(f"/api/v1/appeals/{code}")
    assert response.status_code == 503 and response.json["error"]["code"] == "unavailable"
    assert int(response.headers["Retry-After"]) > 0
