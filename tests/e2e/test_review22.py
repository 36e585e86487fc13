"""Findings of a fresh-eyes review of issue 22, on the real server in Chromium."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from companion import create_app
from companion.extensions import db
from companion.models import User
from companion.services import deadlines, intake, passwords, promises, topics
from companion.testing.liveserver import LiveServer

from ..conftest import PASSWORD, test_config
from .test_rehearsal import browser, signed_in  # noqa: F401 - fixtures


def test_the_reports_promises_stack_on_a_phone(browser, tmp_path):  # noqa: F811
    """The promises' table of the report was the one list that did not stack at 360 px: the page
    scrolled sideways to 559 px in Kazakh."""
    server = LiveServer(tmp_path).start()
    try:
        app = create_app(test_config(tmp_path, DATABASE_URL=server.env["COMPANION_DATABASE_URL"]))
        with app.app_context():
            admin = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
            admin.password_hash = passwords.make(PASSWORD)
            db.session.commit()
            due = (deadlines.local_date() + timedelta(days=40)).isoformat()
            for text in ("Кенесары көшесі 40 үйінің ауласы маусымға дейін асфальтталады",
                         "Абай даңғылындағы шамдар жөнделеді"):
                promises.mark_promise(intake.get_broadcast("demo"),
                                      {"text": text, "department_id": 3, "responsible": "Аудан әкімінің орынбасары",
                                       "due_date": due}, actor=admin)
            db.session.remove()
        page = signed_in(browser, server, "admin", "/broadcasts/demo/report?lang=kk",
                         viewport={"width": 360, "height": 740})
        assert page.locator("#promises tbody tr").count() == 2
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the page scrolls sideways: {width}px"
        page.context.close()
    finally:
        server.stop()


def test_a_long_topic_name_wraps_on_a_phone(browser, tmp_path):  # noqa: F811
    """A topic's name is up to 100 characters in each language; one long word (a name typed without
    spaces) widened the appeal's page to 1,075 px and the topics page to 1,376 px at 360 px."""
    server = LiveServer(tmp_path).start()
    try:
        app = create_app(test_config(tmp_path, DATABASE_URL=server.env["COMPANION_DATABASE_URL"]))
        with app.app_context():
            admin = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
            admin.password_hash = passwords.make(PASSWORD)
            db.session.commit()
            long_name = "Тұрғынүйкоммуналдықшаруашылығыжәнетұрғынүйинспекциясыбөлімініңжауапкершілігіндегімәселелер"[:100]
            topics.save_topic({"name_kk": long_name, "name_ru": long_name, "name_en": long_name,
                               "keywords": "лифт", "active": "1"}, actor=admin)
            question, _ = intake.submit_question(intake.get_broadcast("demo"), {
                "text": "Лифт не работает третий месяц", "language": "ru", "author_name": "Айгерим",
                "contact": "+77011234567", "consent": True}, channel="web", rate_limited=False)
            appeal_id = question.appeal.id
            db.session.remove()
        page = signed_in(browser, server, "admin", f"/appeals/{appeal_id}?lang=kk",
                         viewport={"width": 360, "height": 740})
        assert page.locator("#appeal-topics .badge.topic").count() == 1
        for path in (f"/appeals/{appeal_id}?lang=kk", "/admin/topics?lang=kk"):
            page.goto(server.url + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"{path} scrolls sideways: {width}px"
        page.context.close()
    finally:
        server.stop()
