"""Broadcast-grade screens over HTTP: the overlay's key, the present view, the teleprompter and desk pages."""
from __future__ import annotations

import re

from companion.services import intake

from .conftest import csrf_token


def overlay_key(app) -> str:
    with app.app_context():
        return intake.get_broadcast("demo").overlay_key


def test_overlay_needs_the_broadcast_key(app):
    client, key = app.test_client(), overlay_key(app)
    assert len(key) >= 32
    for bad in ("", "?key=", "?key=wrong", f"?key={key[:-1]}"):
        assert client.get(f"/overlay/demo{bad}").status_code == 404
    page = client.get(f"/overlay/demo?key={key}&position=top&theme=light&scale=1.5&mode=question")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'class="overlay pos-top theme-light mode-question"' in html and '"scale": 1.5' in html
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"


def test_overlay_options_are_whitelisted(app):
    html = app.test_client().get(f"/overlay/demo?key={overlay_key(app)}&position=<x>&theme=evil&scale=99&mode=ask"
                                 ).get_data(as_text=True)
    assert 'class="overlay pos-bottom theme-dark mode-ask"' in html and '"scale": 3.0' in html
    assert "<x>" not in html and 'id="ask"' in html and "/b/demo/qr.svg" in html


def test_moderator_rotates_the_overlay_key_and_the_old_address_stops(app, staff_client):
    old = overlay_key(app)
    mod = staff_client("mod")
    detail = mod.get("/admin/broadcasts/1").get_data(as_text=True)
    assert f"key={old}" in detail
    token = csrf_token(mod, "/admin/broadcasts/1")
    assert mod.post("/admin/broadcasts/1/overlay-key", data={"csrf_token": token}).status_code == 302
    new = overlay_key(app)
    assert new != old
    assert app.test_client().get(f"/overlay/demo?key={old}").status_code == 404
    assert app.test_client().get(f"/overlay/demo?key={new}").status_code == 200
    speaker = staff_client("speaker")
    refused = speaker.post("/admin/broadcasts/1/overlay-key", data={"csrf_token": csrf_token(speaker, "/track")})
    assert refused.status_code == 403
    assert overlay_key(app) == new


def test_overlay_key_is_never_shown_to_the_audience(app):
    key = overlay_key(app)
    client = app.test_client()
    for path in ("/b/demo", "/present/demo", "/api/v1/broadcasts/demo", "/roadmap"):
        assert key not in client.get(path).get_data(as_text=True), path


def test_present_view_is_public_and_shows_how_to_join(app):
    page = app.test_client().get("/present/demo")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "/b/demo/qr.svg" in html
    assert re.search(r'<p class="present-url">[^<]*/b/demo</p>', html)
    assert app.test_client().get("/present/nope").status_code == 404


def test_teleprompter_and_desk_pages_carry_their_controls(staff_client):
    prompter = staff_client("speaker").get("/prompter/demo").get_data(as_text=True)
    for control in ("mirror", "flip", "guide", "contrast", "scroll", "faster", "slower", "fullscreen", "backstage",
                    "countdown", "total", "blank", "wider", "narrower"):
        assert f'id="{control}"' in prompter, control
    desk = staff_client("mod").get("/moderate/demo").get_data(as_text=True)
    for control in ("filters", "f-text", "f-category", "f-language", "f-district", "mute", "backstage-form",
                    "countdown"):
        assert f'id="{control}"' in desk, control
