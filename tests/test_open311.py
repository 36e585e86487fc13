"""Open311 GeoReport v2 as other people's software speaks it (issue 23): FixMyStreet's client logic
(tests/fixmystreet_open311.py), the spec's examples (tests/data/georeport_v2/), both formats from one
representation, the spec's field rules, extras shown to staff, safe retries, the integrator's language."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import func, select

from companion.extensions import db
from companion.models import Appeal, AppealEvent
from companion.services import apikeys, appeals

from .fixmystreet_open311 import Open311, get_xml_object

SPEC = Path(__file__).parent / "data" / "georeport_v2"
BASE = "/open311/v2"
PROBLEM = {"title": "Pothole on Abay avenue", "detail": "A deep pothole by the bus stop", "name": "Dana Serikova",
           "email": "dana@example.kz", "latitude": 43.2380001, "longitude": 76.945, "uprn": "100023",
           "extra_fields": [{"name": "fms_extra_depth", "value": "deep"}, {"name": "size", "value": "<b>1 m</b>"}]}
EXTRA = {"url": "https://fms.example.kz/report/42", "image_url": "https://fms.example.kz/photo/42.0.full.jpeg"}


def key_of(app) -> str:
    with app.app_context():
        return apikeys.create_key("FixMyStreet", actor=None)[1]


def spec_json(name: str):
    """A spec JSON example, its numbers with leading zeros (`001`, not JSON) quoted."""
    return json.loads(re.sub(r'(":\s*)(0\d+)(\s*[,}\]])', r'\1"\2"\3', (SPEC / name).read_text()))


def shape(element: ET.Element):
    """An XML document's element names, nested, without the text: what a parser relies on."""
    return (element.tag, tuple(dict.fromkeys(shape(child) for child in element)))


def appeal_count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Appeal)).scalar_one()


# --- FixMyStreet's client ------------------------------------------------------------------------

def test_fixmystreet_reads_the_service_list_in_xml(app):
    fms = Open311(app.test_client(), jurisdiction="akimat.example.kz")
    services = fms.get_service_list()
    assert fms.success and len(services["service"]) == 6
    first = services["service"][0]
    assert first["service_code"] == "1" and first["service_name"] == "Transport and roads"
    assert first["metadata"].lower() == "false"  # PopulateServiceList: no call for the definition
    assert first["type"] == "realtime" and first["group"]
    meta = fms.get_service_meta_info("1")
    assert meta["service_code"] == "1" and meta.get("attributes") is None  # an empty <attributes/>
    assert fms.get_service_meta_info("99") is None and "404: " in fms.error


def test_fixmystreet_sends_a_report_and_reads_the_id_from_the_xml_receipt(app, staff_client):
    key = key_of(app)
    fms = Open311(app.test_client(), jurisdiction="akimat.example.kz", api_key=key)
    request_id = fms.send_service_request(PROBLEM, EXTRA, "1")
    assert request_id and request_id.startswith("SRK-"), fms.error
    method, url, body = fms.sent[-1]
    assert (method, url) == ("POST", "/open311/v2/requests.xml")
    sent = dict(parse_qsl(body))
    assert sent["lat"] == "43.238" and sent["long"] == "76.945" and sent["attribute[uprn]"] == "100023"
    assert fms.last_response.content_type == "text/xml; charset=utf-8"
    with app.app_context():
        appeal = appeals.by_code(request_id)
        assert appeal.text == "Pothole on Abay avenue\n\nA deep pothole by the bus stop\n\nhttps://fms.example.kz/report/42"
        assert (appeal.author_name, appeal.contact, appeal.category_id) == ("Dana Serikova", "dana@example.kz", 1)
        assert appeal.open311_extra == {"media_url": [EXTRA["image_url"]],
                                        "attributes": {"depth": "deep", "size": "<b>1 m</b>", "uprn": "100023"}}
        appeal_id = appeal.id
    page = staff_client("admin").get(f"/appeals/{appeal_id}").get_data(as_text=True)
    assert "&lt;b&gt;1 m&lt;/b&gt;" in page and "<b>1 m</b>" not in page  # shown to staff, escaped
    assert f'href="{EXTRA["image_url"]}"' in page and "depth" in page and "100023" in page


def test_fixmystreet_retrying_a_send_makes_one_appeal(app):
    """FixMyStreet sends no client_id and retries a send it recorded as failed: the same report again."""
    fms = Open311(app.test_client(), api_key=key_of(app))
    first = fms.send_service_request(PROBLEM, EXTRA, "1")
    again = fms.send_service_request(PROBLEM, EXTRA, "1")
    assert first and again == first and fms.last_response.status_code == 200
    assert appeal_count(app) == 1
    other = fms.send_service_request({**PROBLEM, "detail": "Another pothole"}, EXTRA, "1")
    assert other and other != first and appeal_count(app) == 2
    # the same words from the same person at another place are another report, never swallowed
    elsewhere = fms.send_service_request({**PROBLEM, "latitude": 43.25, "longitude": 76.95}, EXTRA, "1")
    assert elsewhere and elsewhere not in (first, other) and appeal_count(app) == 3


def test_a_retry_after_the_window_is_a_new_request(app):
    fms = Open311(app.test_client(), api_key=key_of(app))
    first = fms.send_service_request(PROBLEM, EXTRA, "1")
    with app.app_context():
        window = app.config["OPEN311_RETRY_WINDOW_SECONDS"]
        assert window == 600
        for event in db.session.execute(select(AppealEvent)).scalars():
            event.at -= timedelta(seconds=window + 1)
        db.session.commit()
    later = fms.send_service_request(PROBLEM, EXTRA, "1")
    assert later and later != first and appeal_count(app) == 2
    app.config["OPEN311_RETRY_WINDOW_SECONDS"] = 0  # off: every POST is new
    assert fms.send_service_request(PROBLEM, EXTRA, "1") not in (first, later)
    assert appeal_count(app) == 3


def test_fixmystreet_reads_our_errors(app):
    fms = Open311(app.test_client(), api_key="not-a-key")
    assert fms.send_service_request(PROBLEM, EXTRA, "1") == 0
    assert fms.last_response.status_code == 403 and "403: A valid api_key is required." in fms.error
    fms.api_key = key_of(app)
    assert fms.send_service_request(PROBLEM, EXTRA, "999") == 0
    assert fms.last_response.status_code == 404 and "404: " in fms.error and "service_code" in fms.error
    assert appeal_count(app) == 0


def test_fixmystreet_sends_several_photos_as_repeated_media_url(app):
    fms = Open311(app.test_client(), api_key=key_of(app))
    photos = [f"https://fms.example.kz/photo/42.{i}.full.jpeg" for i in range(3)]
    request_id = fms.send_service_request(PROBLEM, {**EXTRA, "multi_photos": True, "all_image_urls": photos}, "1")
    with app.app_context():
        assert appeals.by_code(request_id).open311_extra["media_url"] == photos
    [item] = get_xml_object(app.test_client().get(f"{BASE}/requests/{request_id}.xml?api_key={fms.api_key}").data)["request"]
    assert item["media_url"] == photos[0]


# --- the spec's examples -------------------------------------------------------------------------

def test_the_spec_example_post_is_registered_with_its_attributes_and_ids(app, staff_client):
    key, client = key_of(app), app.test_client()
    body = (SPEC / "post_request.txt").read_text().strip().replace("api_key=xyz", f"api_key={key}")
    response = client.post(f"{BASE}/requests.xml", data=body, content_type="application/x-www-form-urlencoded; charset=utf-8")
    assert response.status_code == 201 and response.content_type == "text/xml; charset=utf-8"
    ours = ET.fromstring(response.data)
    spec = ET.fromstring((SPEC / "post_response.xml").read_bytes())
    assert [c.tag for c in ours[0]][:3] == [c.tag for c in spec[0]]  # access_code follows: our extension
    assert (ours.tag, ours[0].tag) == (spec.tag, spec[0].tag) == ("service_requests", "request")
    assert ours[0].findtext("account_id") == "123456"
    code = ours[0].findtext("service_request_id")
    with app.app_context():
        appeal = appeals.by_code(code)
        assert appeal.open311_extra == {"device_id": "tt222111", "account_id": "123456",
                                        "media_url": ["http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg"],
                                        "attributes": {"WHISPAWN": "123456", "WHISDORN": "COISL001"}}
        assert (appeal.lat, appeal.long, appeal.address) == (37.76524078, -122.4212043, "1234 5th street")
        appeal_id = appeal.id
    page = staff_client("admin").get(f"/appeals/{appeal_id}").get_data(as_text=True)
    for shown in ("tt222111", "123456", "WHISPAWN", "COISL001", "2212426634_5ed477a060.jpg"):
        assert shown in page
    json_receipt = client.post(f"{BASE}/requests.json", data=body.replace("A+large", "A+second"),
                               content_type="application/x-www-form-urlencoded").json
    assert list(json_receipt[0])[:3] == list(spec_json("post_response.json")[0])


@pytest.mark.parametrize("path, example", [("services", "services"), ("services/1", "service_definition"),
                                           ("requests", "requests"), ("discovery", "discovery")])
def test_each_answer_has_the_shape_of_the_spec_example_in_both_formats(app, path, example):
    key, client = key_of(app), app.test_client()
    client.post(f"{BASE}/requests.xml", data={"api_key": key, "service_code": "1", "lat": "43.2", "long": "76.9",
                                              "description": "Broken light", "address_id": "A-17",
                                              "media_url": "https://example.kz/1.jpg"})
    xml = client.get(f"{BASE}/{path}.xml?api_key={key}")
    assert xml.status_code == 200 and xml.content_type == "text/xml; charset=utf-8"
    assert xml.data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    ours, spec = ET.fromstring(xml.data), ET.fromstring((SPEC / f"{example}.xml").read_bytes())
    if example == "service_definition":  # ours has no attributes: compare the outer elements
        assert [c.tag for c in ours] == [c.tag for c in spec]
    elif example == "discovery":
        assert shape(ours) == shape(spec)
    else:
        assert (ours.tag, ours[0].tag) == (spec.tag, spec[0].tag)
        assert set(c.tag for c in ours[0]) == set(c.tag for c in spec[0])
    as_json = client.get(f"{BASE}/{path}.json?api_key={key}")
    assert as_json.content_type == "application/json; charset=utf-8"
    spec_doc = spec_json(f"{example}.json")
    ours_doc = as_json.json
    first_ours, first_spec = (ours_doc[0], spec_doc[0]) if isinstance(spec_doc, list) else (ours_doc, spec_doc)
    assert set(first_spec) <= set(first_ours) or example == "service_definition" and set(first_ours) == set(first_spec)
    assert to_plain(ours) == plain_json(ours_doc, ours.tag)  # one representation, two formats


def to_plain(element: ET.Element):
    """An XML answer read back generically: lists for the spec's list elements, text for the rest."""
    lists = {"services", "service_requests", "errors", "attributes", "values", "endpoints", "formats"}
    if element.tag in lists:
        return [to_plain(child) for child in element]
    if len(element):
        return {child.tag: to_plain(child) for child in element}
    return element.text


def plain_json(value, tag=None):
    """A JSON answer with every scalar written as XML writes it."""
    if isinstance(value, list):
        return [plain_json(v) for v in value]
    if isinstance(value, dict):
        return {k: plain_json(v) for k, v in value.items()}
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value in (None, "") else str(value)  # XML writes "" and None alike: an empty element


def test_errors_come_in_the_spec_format_of_the_requested_format(app):
    client = app.test_client()
    spec = ET.fromstring((SPEC / "errors.xml").read_bytes())
    for url, status in ((f"{BASE}/services/99.xml", 404), (f"{BASE}/tokens/12345.xml", 404),
                        (f"{BASE}/requests/SRK-1999-000001.xml", 404), (f"{BASE}/requests.xml", 403)):
        response = client.get(url)
        assert response.status_code == status and response.content_type == "text/xml; charset=utf-8", url
        document = ET.fromstring(response.data)
        assert shape(document) == shape(spec) and document.findtext("error/code") == str(status)
    refused = client.delete(f"{BASE}/services.xml")
    assert refused.status_code == 405 and ET.fromstring(refused.data).findtext("error/code") == "405"
    as_json = client.get(f"{BASE}/services/99.json")
    assert as_json.content_type == "application/json; charset=utf-8"
    assert set(as_json.json[0]) == set(spec_json("errors.json")[0])


# --- the spec's field rules ----------------------------------------------------------------------

@pytest.mark.parametrize("fields, status, named", [
    ({"service_code": ""}, 400, "service_code"),
    ({"service_code": "77"}, 404, "service_code"),
    ({"lat": "", "long": ""}, 400, "location"),
    ({"long": ""}, 400, "long"),
    ({"lat": ""}, 400, "lat"),
    ({"lat": "91"}, 400, "lat"),
    ({"long": "-180.5"}, 400, "long"),
    ({"description": "x" * 4001}, 400, "description"),
    ({"description": "", "attribute[depth]": "deep"}, 400, "description"),
    ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
    ({"attribute[a b]": "x"}, 400, "attribute[a b]"),
    ({"device_id": "d" * 201}, 400, "device_id"),
])
def test_a_post_breaking_a_field_rule_is_refused_naming_the_field(app, fields, status, named):
    key, client = key_of(app), app.test_client()
    form = {"api_key": key, "service_code": "1", "lat": "43.2", "long": "76.9", "description": "Broken light", **fields}
    response = client.post(f"{BASE}/requests.xml", data=form)
    assert response.status_code == status, response.data
    document = ET.fromstring(response.data)
    assert document.tag == "errors" and f"{named}:" in document.findtext("error/description")
    assert appeal_count(app) == 0


@pytest.mark.parametrize("location", [{"address_string": "Abay 10"}, {"address_id": "A-17"},
                                      {"lat": "-90", "long": "180"}])
def test_any_one_location_of_the_spec_is_enough_and_a_long_description_fits(app, location):
    key, client = key_of(app), app.test_client()
    form = {"api_key": key, "service_code": "1", "description": "я" * 4000, **location}
    response = client.post(f"{BASE}/requests.json", data=form)
    assert response.status_code == 201, response.json
    [item] = client.get(f"{BASE}/requests/{response.json[0]['service_request_id']}.json?api_key={key}").json
    assert item["description"] == "я" * 4000
    assert item["address_id"] == location.get("address_id")


def test_text_xml_cannot_carry_is_replaced_not_fatal(app):
    key, client = key_of(app), app.test_client()
    code = client.post(f"{BASE}/requests.json", data={"api_key": key, "service_code": "1", "address_string": "Abay 10",
                                                        "description": "odd \ufffe text"}).json[0]["service_request_id"]
    document = ET.fromstring(client.get(f"{BASE}/requests/{code}.xml?api_key={key}").data)
    assert document.findtext("request/description") == "odd \ufffd text"


def test_json_bodies_take_attributes_as_an_object(app):
    key, client = key_of(app), app.test_client()
    response = client.post(f"{BASE}/requests.json", json={"api_key": key, "service_code": 1, "lat": 43.2, "long": 76.9,
                                                           "description": "Broken light",
                                                           "attribute": {"colour": ["red", "blue"]}})
    assert response.status_code == 201
    with app.app_context():
        assert appeals.by_code(response.json[0]["service_request_id"]).open311_extra == {
            "attributes": {"colour": ["red", "blue"]}}


# --- the integrator's language -------------------------------------------------------------------

def test_the_integrators_language_is_a_setting_not_kazakh(app):
    client = app.test_client()
    app.config["DEFAULT_LOCALE"] = "kk"  # the product's default for people's pages
    english = get_xml_object(client.get(f"{BASE}/services.xml").data)["service"][0]["service_name"]
    assert english == "Transport and roads"
    kazakh = client.get(f"{BASE}/services.json", headers={"Accept-Language": "kk"}).json[0]["service_name"]
    assert kazakh != english
    app.config["OPEN311_LOCALE"] = "ru"
    russian = client.get(f"{BASE}/services.json").json[0]["service_name"]
    assert russian not in (english, kazakh)
    error = client.get(f"{BASE}/requests.xml")
    assert ET.fromstring(error.data).findtext("error/description") != "A valid api_key is required."


@pytest.mark.parametrize("description, language", [("Во дворе дома 5 на улице Кенесары нет освещения", "ru"),
                                                   ("The streetlight on Kenesary street has been out for a week", "en"),
                                                   ("Кенесары көшесіндегі үйдің ауласында жарық жоқ", "kk")])
def test_an_open311_request_without_a_language_takes_its_descriptions(app, description, language):
    from companion.services import apikeys, appeals
    with app.app_context():
        _, key = apikeys.create_key("109 centre", actor=None)
    created = app.test_client().post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "1", "address_string": "Kenesary 5", "description": description})
    assert created.status_code == 201, created.get_data(as_text=True)
    with app.app_context():
        assert appeals.by_code(created.json[0]["service_request_id"]).language == language


def test_open311_errors_name_the_fields_as_the_integrator_sent_them(app):
    from companion.services import apikeys
    with app.app_context():
        _, key = apikeys.create_key("109 centre", actor=None)
    base = {"api_key": key, "service_code": "1", "address_string": "Abay 1", "description": "Bench"}
    client = app.test_client()
    bad_mail = client.post("/open311/v2/requests.json", data={**base, "email": "notanemail", "first_name": "Dana"})
    assert bad_mail.status_code == 400
    assert "email: This e-mail address is not valid." in bad_mail.json[0]["description"]
    long_name = client.post("/open311/v2/requests.json", data={**base, "first_name": "Д" * 500})
    assert long_name.status_code == 400 and "first_name/last_name:" in long_name.json[0]["description"]
    assert "author_name" not in long_name.json[0]["description"]


def test_a_401_says_how_to_authenticate(app):
    for url in ("/open311/v2/requests.json", "/api/v1/broadcasts/demo/questions"):
        method = app.test_client().get if "open311" in url else app.test_client().post
        response = method(url, headers={"Authorization": "Bearer wrong"}, json={"text": "x"})
        assert response.status_code == 401, (url, response.status_code)
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), url


@pytest.mark.parametrize("url, ok", [("https://fms.example.kz/photo/42.0.full.jpeg?size=full&v=2", True),
                                     ("http://[::1]:8080/a_(b)~c", True),
                                     ('https://ex.org/a.jpg?x=<y>&z=1"onmouseover=alert(1)', False),
                                     ("https://ex.org/a b.jpg", False), ("javascript:alert(1)", False),
                                     ("https://ex.org/" + "a" * 2100, False)])
def test_media_url_takes_only_a_real_web_address(app, url, ok):
    from companion.services import apikeys
    with app.app_context():
        _, key = apikeys.create_key("109 centre", actor=None)
    response = app.test_client().post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "1", "address_string": "Abay 1", "description": "Bench", "media_url": url})
    assert (response.status_code == 201) is ok, response.get_data(as_text=True)
    if len(url) > 2000:
        assert "2000" in response.json[0]["description"] or "2,000" in response.json[0]["description"]
