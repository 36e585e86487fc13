"""Printed and mailed addresses never come from a Host header a client chose."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from companion.services import appeals, wording

from companion.testing.liveserver import free_port

ROOT = Path(__file__).resolve().parent.parent
FORGED = "evil.example"


@pytest.mark.parametrize("settings", [{"HOST": "0.0.0.0"}, {"PROXY_HOPS": "1"}],
                         ids=["beyond-loopback", "behind-a-proxy"])
def test_serving_beyond_loopback_without_a_public_url_refuses_to_start(tmp_path, settings):
    env = {**os.environ, "COMPANION_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "COMPANION_SECRET_KEY": "x",
           **{f"COMPANION_{k}": v for k, v in settings.items()}}
    env.pop("COMPANION_PUBLIC_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "companion", "serve", "--port", str(free_port())], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("the server started without COMPANION_PUBLIC_URL")
    assert process.returncode != 0
    assert "COMPANION_PUBLIC_URL" in err and "Traceback" not in err, err


def test_a_forged_host_header_never_reaches_receipts_or_qr_codes(server):
    stored = requests.post(server.url + "/api/v1/broadcasts/demo/questions",
                           json={"text": "Where is my receipt", "client_id": "forged-host-01"}, timeout=10)
    code = f'{stored.json()["tracking_code"]}/{stored.json()["access_code"]}'  # the resident's private address
    forged = {"Host": f"{FORGED}:8080"}
    for path in (f"/track/{code}/receipt", "/present/demo"):
        page = requests.get(server.url + path, headers=forged, timeout=10)
        assert page.status_code == 200 and FORGED not in page.text, path
        assert f"127.0.0.1:{server.port}" in page.text, path  # the configured address instead
    for path in (f"/track/{code}/qr.svg", "/b/demo/qr.svg"):
        genuine = requests.get(server.url + path, timeout=10)
        assert requests.get(server.url + path, headers=forged, timeout=10).content == genuine.content, path
    track_qr = requests.get(server.url + f"/track/{code}/qr.svg", timeout=10)
    assert "no-store" in track_qr.headers["Cache-Control"]  # a personal tracking link


def test_mailed_links_ignore_a_forged_host(app, ctx):
    response = app.test_client().post("/api/v1/broadcasts/demo/questions", json={"text": "Mail me the answer"})
    appeal = appeals.by_code(response.json["tracking_code"])
    with app.test_request_context("/", base_url=f"http://{FORGED}"):
        link = wording.track_link(appeal)
    assert FORGED not in link and link.startswith("http://127.0.0.1:5000/track/"), link


def test_a_configured_public_url_is_used_whatever_the_host(app):
    app.config["PUBLIC_URL"] = "https://ask.example.kz/"
    page = app.test_client().get("/present/demo", headers={"Host": FORGED}).get_data(as_text=True)
    assert "ask.example.kz/b/demo" in page and FORGED not in page
