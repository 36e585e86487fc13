"""Findings of a fresh-eyes review of issue 22 (the broadcast report, promises, analytics, topic tags)."""
from __future__ import annotations

import io
from datetime import timedelta

from pypdf import PdfReader
from sqlalchemy import select

from companion.extensions import db
from companion.models import Broadcast, Department, OutboxMessage
from companion.services import (
    broadcast_report,
    broadcasts,
    deadlines,
    intake,
    moderation,
    promises,
    report_mail,
    topics,
)

LONG_URL = "https://example.com/" + "a" * 400


def _ask(b, text, **fields):
    question, _ = intake.submit_question(b, {"text": text, "language": fields.pop("language", "ru"), **fields},
                                         channel="web", rate_limited=False)
    return question


def _live(slug: str) -> Broadcast:
    b = broadcasts.save_broadcast({"slug": slug, "title_kk": "Әкіммен кездесу", "title_ru": "Встреча с акимом",
                                   "title_en": "Meeting the akim"})
    moderation.set_broadcast_status(b, "live", actor=None)
    return b


def _pages(data: bytes):
    return PdfReader(io.BytesIO(data)).pages


def _text(data: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in _pages(data)).split())


def _outside_the_page(data: bytes) -> list[tuple[int, float, str]]:
    """Every piece of text the PDF places beyond its page's right edge (cut off on paper and on screen)."""
    outside = []
    for number, page in enumerate(_pages(data)):
        width = float(page.mediabox.width)

        def visit(text, cm, tm, _font, _size, number=number, width=width):
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            if text.strip() and x > width:
                outside.append((number, round(x), text.strip()[:30]))
        page.extract_text(visitor_text=visit)
    return outside


def test_a_long_unbroken_word_in_a_question_keeps_every_column_of_the_pdf_on_the_page(app):
    """A pasted link of 400 characters pushed the status, department, officer and due date columns of the
    "not reached" table beyond the A4 page (x = 2,500 pt on a 595 pt page): they were cut off."""
    from companion.web.reports import render_pdf
    with app.test_request_context("/?lang=ru"):
        b = _live("long-words")
        _ask(b, "Посмотрите " + LONG_URL + " там яма", author_name="Айгерим", contact="+77011234567", consent=True)
        _ask(b, "Аулада балалар алаңы жоқ", language="kk")
        data, _name = render_pdf(b, "ru")
    assert _outside_the_page(data) == []
    text = _text(data).replace("\u200b", "")
    assert "a" * 400 in text.replace(" ", "")  # the whole link is there, only broken across lines
    assert "зарегистрировано" in text  # the appeal status column is on the page


def test_the_e_mailed_pdf_leaves_out_districts_as_residents_typed_them(app):
    """Without COMPANION_DISTRICTS (the default) the report's districts are as typed: a resident's
    "ул. Кенесары 40, кв. 5" left the office in the e-mailed copy, which promises no residents' text."""
    from companion.web.reports import mailed_pdf, render_pdf
    assert not app.config["DISTRICTS"]
    with app.test_request_context("/?lang=ru"):
        b = _live("typed-districts")
        _ask(b, "Когда починят лифт?", district="ул. Кенесары 40, кв. 5", author_name="Айгерим",
             contact="+77011234567", consent=True)
        _ask(b, "Когда уберут снег?", district="Алмалы")
        mailed = _text(mailed_pdf(b, "ru")[0])
        downloaded = _text(render_pdf(b, "ru")[0])
    assert "Кенесары" in downloaded and "Алмалы" in downloaded  # staff's own copy shows them
    assert "Кенесары" not in mailed and "Алмалы" not in mailed
    assert "другие районы" in mailed  # counted, under "other districts"


def test_the_e_mailed_pdf_still_names_the_offices_own_districts(app):
    app.config.update(DISTRICTS="Almaly|Алмалы;Medeu|Медеу")
    from companion.web.reports import mailed_pdf
    with app.test_request_context("/?lang=ru"):
        b = _live("office-districts")
        _ask(b, "Когда починят лифт?", district="алмалы")
        _ask(b, "Когда уберут снег?", district="дом 5, кв. 7")
        mailed = _text(mailed_pdf(b, "ru")[0])
    assert "Almaly" in mailed and "дом 5" not in mailed


def test_the_demo_broadcast_is_live_with_its_start_so_ending_it_mails_the_report(app, ctx):
    """seed-demo made `demo` live without started_at: ending the rehearsal e-mailed no report, and the
    promises marked in it had no moment in the stream."""
    b = intake.get_broadcast("demo")
    assert b.status == "live" and b.started_at is not None
    report_mail.save_recipients(b, "head@akimat.kz ru", actor=None)
    moderation.set_broadcast_status(b, "ended", actor=None)
    rows = db.session.execute(select(OutboxMessage).where(OutboxMessage.kind == "report")).scalars().all()
    assert [row.chat for row in rows] == ["head@akimat.kz"]


def test_a_promise_marked_in_the_demo_has_its_moment_in_the_stream(app, ctx):
    b = intake.get_broadcast("demo")
    b.started_at = b.started_at - timedelta(minutes=12)
    db.session.commit()
    promise = promises.mark_promise(b, {"text": "Двор на Кенесары 40 заасфальтируют", "department_id": 1,
                                        "due_date": (deadlines.local_date() + timedelta(days=30)).isoformat()},
                                    actor=None)
    assert promise.stream_offset is not None and promise.stream_offset >= 12 * 60


def test_an_officers_analytics_name_their_department_not_all_departments(app, staff_client):
    """An officer sees their own department's figures, but the on-time and days tables began with a row
    called "All departments" (the same figures again, under a name that says the whole office)."""
    app.config.update(ANALYTICS_CACHE_SECONDS=0)
    with app.app_context():
        b = intake.get_broadcast("demo")
        question = _ask(b, "Когда починят дорогу на Кенесары?", author_name="Айгерим", contact="+77011234567",
                        consent=True)
        moderation.transition(b, question.id, "approve", actor=None)  # acted on: under consideration
        appeal = question.appeal
        appeal.department_id, appeal.days_to_answer, appeal.answered_on_time = 1, 3, True  # answered in 3 days
        db.session.commit()
        department = db.session.get(Department, 1).name("en")
    officer, head = staff_client("officer"), staff_client("head")
    page = officer.get("/analytics?lang=en").get_data(as_text=True)
    assert "The appeals of your department." in page and "All departments" not in page
    for name in ("on_time", "days"):
        rows = officer.get(f"/analytics/{name}.csv?lang=en").get_data(as_text=True).lstrip("\ufeff").splitlines()
        assert [row.split(",")[0] for row in rows[1:]] == [department]
    assert "All departments" in head.get("/analytics/on_time.csv?lang=en").get_data(as_text=True)


def test_the_report_counts_the_topic_tags_and_calls_categories_categories(app, staff_client):
    """The report's "Topics" chart counted categories and said "no topic set" for every question of a
    broadcast whose appeals all had topic tags (Roads, Heating...) suggested by the office's rules."""
    with app.app_context():
        b = _live("tagged")
        road = _ask(b, "Когда отремонтируют дорогу? Яма на дороге у дома 5")
        _ask(b, "Дорога на Кабанбай батыра вся в ямах")
        _ask(b, "Батарея холодная, отопление не работает")
        _ask(b, "Спасибо за эфир")
        for action in ("approve", "queue", "send_to_air", "mark_answered"):
            moderation.transition(b, road.id, action, actor=None)
        report = broadcast_report.compute(b, "en")
        names = {str(k): v for k, v in topics.topic_names("en").items()}
    tags = {names.get(bar.key, bar.key): bar.count for bar in report["topic_tags"]}
    assert tags == {"Roads": 2, "Heating": 1, "": 1}
    assert {names.get(bar.key, bar.key): bar.extra["answered"] for bar in report["topic_tags"]}["Roads"] == 1
    page = staff_client("head").get("/broadcasts/tagged/report?lang=en").get_data(as_text=True)
    assert "By category" in page and "By topic" in page and "Not categorised yet" in page


def test_the_reports_spreadsheet_has_the_topics_column_the_appeals_export_has(app, staff_client):
    """Topics are a filter of the appeals' list and a column of its exports, but the broadcast's own
    spreadsheet of questions had no such column."""
    import openpyxl
    with app.app_context():
        b = _live("tagged-sheet")
        _ask(b, "Дорога на Кабанбай батыра вся в ямах")
        _ask(b, "Спасибо за эфир")
    client = staff_client("head")
    rows = list(openpyxl.load_workbook(io.BytesIO(client.get("/broadcasts/tagged-sheet/report.xlsx?lang=en").data))
                .active.iter_rows(values_only=True))
    assert rows[0][-1] == "Topics"
    assert [row[-1] or "" for row in rows[1:]] == ["Roads (suggested)", ""]
    csv_rows = client.get("/broadcasts/tagged-sheet/report.csv?lang=en").get_data(as_text=True).splitlines()
    assert csv_rows[0].endswith(",Topics") and csv_rows[1].endswith(",Roads (suggested)")


def test_an_officer_cannot_rewrite_a_published_promise_by_unpublishing_it_first(app, ctx):
    """Only the head or an admin may change the words or the date of a published promise, but an officer
    could unpublish it, move a late promise's date years ahead, and publish it again: the roadmap then
    showed it as planned instead of late."""
    import pytest

    from companion.errors import Forbidden
    from companion.models import User
    head = db.session.execute(select(User).where(User.username == "head")).scalar_one()
    officer = db.session.execute(select(User).where(User.username == "officer")).scalar_one()
    b = intake.get_broadcast("demo")
    promise = promises.mark_promise(b, {"text": "Двор на Кенесары 40 заасфальтируют", "department_id": 1,
                                        "due_date": (deadlines.local_date() + timedelta(days=3)).isoformat()},
                                    actor=None)
    promises.set_published(promise, True, actor=head)
    promises.set_published(promise, False, actor=officer)
    later = {"text": promise.text, "department_id": 1, "responsible": "",
             "due_date": (deadlines.local_date() + timedelta(days=900)).isoformat()}
    with pytest.raises(Forbidden):
        promises.edit_promise(promise, later, actor=officer)
    db.session.rollback()
    with pytest.raises(Forbidden):
        promises.edit_promise(promise, {**later, "due_date": promise.due_date.isoformat(), "text": "Посмотрим"},
                              actor=officer)
    db.session.rollback()
    # what residents never saw stays the officer's to correct; the head may correct either
    draft = promises.mark_promise(b, {"text": "Свет на Абая", "department_id": 1, "due_date": later["due_date"]},
                                  actor=None)
    assert promises.edit_promise(draft, {**later, "text": "Свет на проспекте Абая"}, actor=officer).text \
        == "Свет на проспекте Абая"
    assert promises.edit_promise(promise, later, actor=head).due_date.isoformat() == later["due_date"]
