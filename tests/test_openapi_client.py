"""A client generated from the served OpenAPI document by openapi-python-client (issue 23), run against the
real server: the document must describe the API well enough for other people's tools to work from it alone.

The client is generated once for the module, from the document the live server serves; the generator must
not warn (a warning means it dropped part of the document: a response, a model or a body)."""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
from datetime import date

import pytest
import requests

from companion.testing.liveserver import LiveServer

PACKAGE = "companion_client"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("live")).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def client_package(server, tmp_path_factory):
    """The package openapi-python-client generates from the served document, imported."""
    folder = tmp_path_factory.mktemp("generated")
    response = requests.get(server.url + "/api/v1/openapi.json", timeout=10)
    assert response.status_code == 200
    (folder / "openapi.json").write_text(json.dumps(response.json()))
    # no post hooks: the generated code is imported, not formatted (ruff would only make it slower)
    (folder / "config.json").write_text(json.dumps({"post_hooks": [], "package_name_override": PACKAGE,
                                                    "project_name_override": PACKAGE}))
    out = subprocess.run([sys.executable, "-m", "openapi_python_client", "generate", "--path", "openapi.json",
                          "--config", "config.json", "--meta", "none", "--output-path", PACKAGE],
                         cwd=folder, capture_output=True, text=True, timeout=120)
    report = out.stdout + out.stderr
    assert out.returncode == 0, report
    assert "Warning" not in report and "Unable to" not in report, report  # nothing of the document dropped
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def in_app(server, work):
    """`work()` in an app context on the live server's database (through our services, not the API)."""
    from companion import create_app
    from companion.config import Config
    from companion.extensions import db
    app = create_app(Config.from_env({"COMPANION_DATABASE_URL": server.env["COMPANION_DATABASE_URL"],
                                      "COMPANION_SECRET_KEY": "x"}))
    with app.app_context():
        try:
            return work()
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="module")
def api_key(server) -> str:
    from companion.services import apikeys
    return in_app(server, lambda: apikeys.create_key("generated client", actor=None)[1])


@pytest.fixture(scope="module")
def anonymous(client_package, server):
    # an operation whose security allows anonymous access ({} among the requirements) is still typed
    # AuthenticatedClient by openapi-python-client 0.29 (its issue #1372): a plain Client works all the same
    return client_package.Client(base_url=server.url, raise_on_unexpected_status=True)


@pytest.fixture(scope="module")
def keyed(client_package, server, api_key):
    return client_package.AuthenticatedClient(base_url=server.url, token=api_key, raise_on_unexpected_status=True)


def test_questions_with_and_without_a_key_the_broadcast_and_the_appeal_through_the_generated_client(
        client_package, anonymous, keyed):
    from companion_client.api.default import appeal_private, appeal_status, broadcast_feed, submit_question
    from companion_client.models import Appeal, AppealState, AppealStatus, BroadcastFeed, NewQuestion, Receipt

    plain = submit_question.sync_detailed("demo", client=anonymous, body=NewQuestion(
        text="Когда откроют новую школу в микрорайоне?", client_id="generated-client-0001"))
    assert plain.status_code == 201
    receipt = plain.parsed
    assert isinstance(receipt, Receipt) and receipt.tracking_code and receipt.statutory is False
    assert receipt.text == "Когда откроют новую школу в микрорайоне?"
    again = submit_question.sync_detailed("demo", client=anonymous, body=NewQuestion(
        text="Когда откроют новую школу в микрорайоне?", client_id="generated-client-0001"))
    assert again.status_code == 200 and again.parsed.tracking_code == receipt.tracking_code  # the same receipt

    signed = submit_question.sync_detailed("demo", client=keyed, body=NewQuestion(
        text="Прошу отремонтировать освещение во дворе дома 5.", author_name="Айгерим Садыкова",
        contact="aigerim@example.kz", consent=True, external_id="EXT-77", client_id="generated-client-0002"))
    assert signed.status_code == 201
    appeal = signed.parsed
    assert isinstance(appeal, Receipt) and appeal.statutory is True and appeal.access_code

    feed = broadcast_feed.sync("demo", client=anonymous)
    assert isinstance(feed, BroadcastFeed) and feed.settings.slug == "demo" and isinstance(feed.version, int)
    assert all(isinstance(q.id, int) for q in feed.questions)

    status = appeal_status.sync(appeal.tracking_code, client=anonymous)
    assert isinstance(status, AppealStatus) and status.tracking_code == appeal.tracking_code
    assert status.status == AppealState.REGISTERED and status.statutory is True
    assert isinstance(status.due_date, date) and status.due_date > status.registration_date
    assert status.full is False

    full = appeal_private.sync(appeal.tracking_code, appeal.access_code, client=anonymous)
    assert isinstance(full, Appeal) and full.full is True and full.status == AppealState.REGISTERED
    assert full.text == "Прошу отремонтировать освещение во дворе дома 5." and full.due_date == status.due_date


def test_a_refusal_is_parsed_as_the_error_model(client_package, anonymous):
    from companion_client.api.default import submit_question
    from companion_client.models import Error, NewQuestion

    refused = submit_question.sync_detailed("demo", client=anonymous, body=NewQuestion(
        text="Вопрос", contact="not a phone or an e-mail", consent=True))
    assert refused.status_code == 400
    error = refused.parsed
    assert isinstance(error, Error) and error.error.code == "invalid"
    assert "contact" in error.error.fields.additional_properties and error.error.message


def test_open311_services_and_a_request_in_json_and_in_a_form_through_the_generated_client(
        client_package, server, anonymous, keyed, api_key):
    from companion_client.api.open_311 import create_request, request_detail, service_definition, services
    from companion_client.models import (NewServiceRequest, NewServiceRequestAttribute, NewServiceRequestForm,
                                         Service, ServiceDefinition, ServiceRequest, ServiceRequestReceipt,
                                         ServiceRequestStatus)

    listed = services.sync(client=anonymous)
    assert listed and all(isinstance(s, Service) and s.service_code and s.service_name for s in listed)
    code = listed[0].service_code
    definition = service_definition.sync(code, client=anonymous)
    assert isinstance(definition, ServiceDefinition) and definition.service_code == code
    assert definition.attributes == []

    attribute = NewServiceRequestAttribute()
    attribute.additional_properties = {"entrance": "2"}
    as_json = create_request.sync_detailed(client=keyed, body=NewServiceRequest(
        api_key=api_key, service_code=code, description="Не горит фонарь у подъезда.", lat=51.1694, long=71.4491,
        media_url=["https://example.kz/photo.jpg"], attribute=attribute, client_id="generated-json-0001"))
    form = NewServiceRequestForm(api_key=api_key, service_code=code, description="Яма на дороге у остановки.",
                                 address_string="ул. Абая, 10", lat="51.18", long="71.44",
                                 media_url="https://example.kz/pit.jpg", client_id="generated-form-0001")
    form.additional_properties = {"attribute[depth]": "deep"}  # a form's attribute[code] field
    as_form = create_request.sync_detailed(client=keyed, body=form)

    for response, text, lat, media, attributes in (
            (as_json, "Не горит фонарь у подъезда.", 51.1694, "https://example.kz/photo.jpg", {"entrance": "2"}),
            (as_form, "Яма на дороге у остановки.", 51.18, "https://example.kz/pit.jpg", {"depth": "deep"})):
        assert response.status_code == 201, response.content
        (receipt,) = response.parsed
        assert isinstance(receipt, ServiceRequestReceipt) and receipt.service_request_id and receipt.access_code
        (found,) = request_detail.sync(receipt.service_request_id, client=keyed)  # the key that filed it: in full
        assert isinstance(found, ServiceRequest) and found.service_request_id == receipt.service_request_id
        assert found.status == ServiceRequestStatus.OPEN and found.service_code == code
        assert found.description == text and found.lat == lat and found.media_url == media
        assert stored_attributes(server, receipt.service_request_id) == attributes  # the body arrived as meant

    (minimum,) = request_detail.sync(as_form.parsed[0].service_request_id, client=anonymous)
    assert minimum.status == ServiceRequestStatus.OPEN and minimum.description is None  # no key: the minimum


def stored_attributes(server, tracking_code: str) -> dict:
    from companion.services import appeals
    return in_app(server, lambda: (appeals.by_code(tracking_code).open311_extra or {}).get("attributes"))
