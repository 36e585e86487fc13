"""The broadcast report: every figure against a broadcast whose counts are known, the audience's peak over
several serving processes, the page and its roles, the PDF read back in Kazakh and Russian, the questions'
spreadsheet read back with its types, and the report e-mailed through the outbox to a local mail server."""
from __future__ import annotations

import csv
import email
import email.policy
import io
import re
from datetime import datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from companion.extensions import db
from companion.models import AudienceCount, Broadcast, OutboxMessage, User
from companion.services import (appeals, audience, broadcast_report, broadcasts, intake, moderation, outbox,
                                report_mail)
from companion.errors import ValidationError

from .conftest import csrf_token
from .test_appeals_http import Inbox

SLUG = "town-hall"
T0 = datetime(2026, 11, 30, 13, 0, tzinfo=timezone.utc)  # 18:00 in Almaty
DISTRICTS = "Almaly|Алмалы;Medeu|Медеу"
KK_TEXT = "Қабанбай батыр көшесіндегі үй маңындағы жолды қашан жөндейді? Ұзақ күттік, Әуезов ауданы, һ"
RU_TEXT = "Когда починят лифт в доме 12 по Сығанақ?"
NAMED = {"author_name": "Айгерим", "contact": "+77011234567", "consent": True}


def _ask(b, text, channel="web", **fields):
    question, _ = intake.submit_question(b, {"text": text, "language": fields.pop("language", "ru"), **fields},
                                         channel=channel, rate_limited=False)
    return question


def _do(b, q, action, **options):
    moderation.transition(b, q.id, action, actor=None, **options)


def seed_town_hall(app) -> dict:
    """A broadcast whose every figure is known (see the expected values in the tests below):
    10 questions: web 5, phone 2, Telegram 1, WhatsApp 1, API 1; 3 answered (waits 60, 180, 600 s),
    1 merged into an answered one, 2 rejected (spam, not for this broadcast), 1 deferred, 1 approved,
    1 queued, 1 never reviewed."""
    app.config.update(DISTRICTS=DISTRICTS)
    with app.app_context():
        admin = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
        officer = db.session.execute(select(User).where(User.username == "officer")).scalar_one()
        b = broadcasts.save_broadcast({"slug": SLUG, "title_kk": "Әкіммен кездесу", "title_ru": "Встреча с акимом",
                                       "title_en": "Meeting the akim"})
        moderation.set_broadcast_status(b, "live", actor=None)
        q = {}
        q[1] = _ask(b, KK_TEXT, language="kk", district="Almaly")
        q[2] = _ask(b, RU_TEXT, district="медеу", **NAMED)
        q[3] = _ask(b, "Дорога на Кабанбай батыра вся в ямах", channel="phone")
        q[4] = _ask(b, "When will the bus 32 run again?", channel="telegram", language="en", district="Somewhere")
        q[5] = _ask(b, "Buy cheap watches", language="en")
        q[6] = _ask(b, "Вопрос не по теме эфира", channel="whatsapp")
        q[7] = _ask(b, "Почему нет освещения во дворе?", channel="api")
        q[8] = _ask(b, "Когда откроют детский сад?")
        q[9] = _ask(b, "Будет ли новая школа?", channel="phone")
        q[10] = _ask(b, "Снег не убирают")
        for n, question in q.items():  # arrivals one minute apart
            question.created_at = T0 + timedelta(minutes=n)
        db.session.commit()
        for n in (1, 2, 4, 7, 8, 9):
            _do(b, q[n], "approve")
        moderation.categorize_question(b, q[1].id, 1, actor=None)
        moderation.categorize_question(b, q[2].id, 2, actor=None)
        moderation.categorize_question(b, q[4].id, 1, actor=None)
        moderation.merge_question(b, q[3].id, q[1].id, actor=None)
        for voter in ("v1", "v2"):
            intake.cast_vote(b, q[8].id, voter)
        intake.cast_vote(b, q[2].id, "v3")
        for n in (1, 2, 4):
            _do(b, q[n], "send_to_air")
            _do(b, q[n], "mark_answered")
        _do(b, q[7], "defer")
        _do(b, q[9], "queue")
        _do(b, q[5], "reject", ground="spam")
        _do(b, q[6], "reject", ground="not_for_broadcast")
        for n, wait in ((1, 60), (2, 180), (4, 600)):
            q[n].aired_at = q[n].created_at + timedelta(seconds=wait)
        appeals.assign(q[2].appeal, 2, None, actor=admin)
        appeals.assign(q[8].appeal, 1, officer.id, actor=admin)
        db.session.commit()
        ids = {n: question.id for n, question in q.items()}
        codes = {n: question.tracking_code for n, question in q.items()}
        dues = {n: question.appeal.due_date for n, question in q.items()}
        # two serving processes count their viewers: 30 + 25 at once, then the first has 5 left
        audience.record("web-1", {SLUG: 30}, now=T0 + timedelta(minutes=20))
        audience.record("web-2", {SLUG: 25, "demo": 3}, now=T0 + timedelta(minutes=20, seconds=2))
        audience.record("web-1", {SLUG: 5}, now=T0 + timedelta(minutes=25))
        db.session.remove()
    return {"ids": ids, "codes": codes, "dues": dues}


def counts(bars) -> dict:
    return {bar.key: bar.count for bar in bars}


@pytest.fixture
def town_hall(app):
    return seed_town_hall(app)


def report_of(app, locale="en") -> dict:
    with app.app_context(), app.test_request_context(f"/?lang={locale}"):
        return broadcast_report.compute(intake.get_broadcast(SLUG), locale)


def test_every_figure_of_a_known_broadcast(app, town_hall):
    r = report_of(app)
    codes = town_hall["codes"]
    assert r["audience"]["peak"] == 55 and r["audience"]["at"] == T0 + timedelta(minutes=20, seconds=2)
    assert (r["received"], r["approved"], r["answered_count"], r["deferred_count"], r["rejected_count"],
            r["merged_count"], r["not_reached_count"], r["votes"]) == (10, 6, 3, 1, 2, 1, 4, 3)
    assert counts(r["channels"]) == {"web": 5, "phone": 2, "telegram": 1, "whatsapp": 1, "api": 1, "open311": 0}
    assert counts(r["outcomes"]) == {"answered": 3, "on_air": 0, "deferred": 1, "approved": 1, "queued": 1,
                                     "pending": 1, "rejected": 2, "merged": 1}
    assert counts(r["grounds"]) == {"spam": 1, "not_for_broadcast": 1}
    # merged askers stand behind the question they joined: 2 + 1 + 1
    assert r["askers_answered"] == 4
    assert [(a["code"], a["askers"]) for a in r["answered"]] == [(codes[1], 2), (codes[2], 1), (codes[4], 1)]
    assert r["time_to_air"] == {"count": 3, "median": 180.0, "p90": 600.0}
    assert [a["wait"] for a in r["answered"]] == [60.0, 180.0, 600.0]
    assert counts(r["topics"]) == {"1": 2, "2": 1, "": 6}
    assert {bar.key: bar.extra["answered"] for bar in r["topics"]} == {"1": 2, "2": 1, "": 0}
    assert counts(r["districts"]) == {"Almaly": 1, "Medeu": 1, "other": 1, "": 6}
    # the follow-up: the one appeal (a name and a contact) answered on air, which still owes its written answer
    assert [f["code"] for f in r["follow_ups"]] == [codes[2]]
    follow_up = r["follow_ups"][0]["appeal"]
    assert follow_up["department"] == "Housing and utilities department" and follow_up["officer"] == ""
    assert follow_up["due_date"] == town_hall["dues"][2] and follow_up["status"] == "assigned to a department"
    # not reached on air, oldest first, each with what became of its appeal
    reached = {item["code"]: item for item in r["not_reached"]}
    assert list(reached) == [codes[7], codes[8], codes[9], codes[10]]
    assert reached[codes[8]]["appeal"]["status"] == "assigned to a department"
    assert reached[codes[8]]["appeal"]["officer"] == "officer"
    assert reached[codes[8]]["appeal"]["department"] == "Passenger transport and roads department"
    assert reached[codes[7]]["status"] == "not reached on air" and reached[codes[10]]["status"] == "waiting for moderation"
    assert counts(r["fates"]) == {"registered": 3, "assigned": 1}
    assert all(not item["appeal"]["statutory"] for code, item in reached.items())  # questions only: no term
    assert r["promises"] == []  # none marked in this broadcast


def test_bars_are_as_long_as_their_share_of_the_longest():
    rows = broadcast_report.bars([("a", "A", 4), ("b", "B", 1), ("c", "C", 0)])
    assert [(bar.key, bar.width) for bar in rows] == [("a", 100.0), ("b", 25.0), ("c", 0.0)]
    assert broadcast_report.bars([("a", "A", 0)])[0].width == 0.0


def test_median_and_nearest_rank_percentile():
    assert broadcast_report.median([]) is None and broadcast_report.percentile([], 0.9) is None
    assert broadcast_report.median([5, 1, 3, 2]) == 2.5
    values = list(range(1, 11))  # 1..10: rank ceil(9) = 9
    assert broadcast_report.percentile(values, 0.9) == 9 and broadcast_report.percentile([7], 0.9) == 7
    assert broadcast_report.percentile(list(range(1, 12)), 0.9) == 10  # rank ceil(9.9) = 10
    assert broadcast_report.minutes(None) == "—" and broadcast_report.minutes(65) == "1:05"
    assert broadcast_report.minutes(3725) == "1:02:05"


# --- the audience, counted by every serving process ---------------------------------------------

def test_the_peak_is_the_highest_sum_over_processes_and_a_stale_count_is_left_out(app, ctx):
    b = broadcasts.save_broadcast({"slug": "peak", "title_en": "Peak"})
    moderation.set_broadcast_status(b, "live", actor=None)
    audience.record("p1", {"peak": 10}, now=T0)
    audience.record("p2", {"peak": 7}, now=T0 + timedelta(seconds=1))
    assert (b.peak_viewers, b.peak_viewers_at) == (17, T0 + timedelta(seconds=1))
    # p2 stopped (its count is over AUDIENCE_STALE_SECONDS old): p1's 12 alone is no new peak
    later = T0 + timedelta(seconds=app.config["AUDIENCE_STALE_SECONDS"] + 5)
    assert audience.record("p1", {"peak": 12}, now=later) == {b.id: 12}
    db.session.refresh(b)
    assert b.peak_viewers == 17
    # a third process joins: 12 + 9 is the new peak; when its viewers leave it writes 0, not its last count
    audience.record("p3", {"peak": 9}, now=later)
    db.session.refresh(b)
    assert (b.peak_viewers, b.peak_viewers_at) == (21, later)
    audience.record("p3", {}, now=later + timedelta(seconds=1))
    assert audience.audience_now(b.id, later + timedelta(seconds=1)) == 12
    # the peak is counted only while the broadcast is live, and its counts go when it ends
    moderation.set_broadcast_status(b, "ended", actor=None)
    audience.record("p1", {"peak": 500}, now=later + timedelta(seconds=2))
    db.session.refresh(b)
    assert b.peak_viewers == 21 and db.session.execute(select(AudienceCount)).scalars().all() == []


def test_viewer_sockets_are_counted_in_this_process(app, viewer_socket):
    from companion.realtime.audience import local_counts, sample_audience
    with app.app_context():
        moderation.set_broadcast_status(intake.get_broadcast("demo"), "live", actor=None) \
            if intake.get_broadcast("demo").status != "live" else None
    first, second = viewer_socket(), viewer_socket()
    with app.app_context():
        assert local_counts() == {"demo": 2}
        assert sample_audience("here") == {1: 2}
        assert db.session.get(Broadcast, 1).peak_viewers == 2
    second.disconnect()
    with app.app_context():
        assert local_counts() == {"demo": 1}
        sample_audience("here")
        assert db.session.get(AudienceCount, (1, "here")).viewers == 1 and db.session.get(Broadcast, 1).peak_viewers == 2
    first.disconnect()


# --- the page ----------------------------------------------------------------------------------

@pytest.mark.parametrize("username", ["mod", "head", "admin"])
def test_the_roles_that_see_results_open_the_report(app, town_hall, staff_client, username):
    client = staff_client(username)
    html = client.get(f"/broadcasts/{SLUG}/report").get_data(as_text=True)
    assert "Peak audience" in html and ">55<" in html and town_hall["codes"][8] in html
    for path in ("report.pdf", "report.xlsx", "report.csv"):
        assert client.get(f"/broadcasts/{SLUG}/{path}").status_code == 200


@pytest.mark.parametrize("username", ["officer", "speaker"])
def test_other_roles_are_refused_and_the_signed_out_sent_to_sign_in(app, town_hall, staff_client, username):
    client = staff_client(username)
    for path in ("report", "report.pdf", "report.xlsx", "report.csv"):
        assert client.get(f"/broadcasts/{SLUG}/{path}").status_code == 403
    token = csrf_token(client, "/track")
    assert client.post(f"/broadcasts/{SLUG}/report/mail", data={"csrf_token": token}).status_code == 403
    assert client.post(f"/broadcasts/{SLUG}/report/recipients",
                       data={"csrf_token": token, "report_recipients": "x@example.kz"}).status_code == 403
    anonymous = app.test_client().get(f"/broadcasts/{SLUG}/report.pdf")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_an_unknown_broadcast_is_a_404_and_a_wrong_format_too(app, staff_client):
    client = staff_client("mod")
    for path in ("/broadcasts/no-such/report", "/broadcasts/no-such/report.pdf", "/broadcasts/no-such/report.xlsx",
                 "/broadcasts/demo/report.exe"):
        assert client.get(path).status_code == 404, path
    assert client.get("/broadcasts/demo/report.csv?sep=tab").status_code == 400


def test_the_page_shows_each_figure_with_its_bar_and_number(app, town_hall, staff_client):
    html = staff_client("mod").get(f"/broadcasts/{SLUG}/report?lang=en").get_data(as_text=True)
    channel = re.search(r'id="by-channel".*?</section>', html, re.S).group(0)
    rows = re.findall(r'<th scope="row">([^<]+)</th>\s*<td class="bar-col"><svg[^>]*>.*?class="bar-fill" width="([\d.]+)".*?</svg></td>\s*'
                      r'<td class="num">(\d+)</td>\s*<td class="num">([^<]+)</td>', channel, re.S)
    assert [(label, width, n) for label, width, n, _share in rows] == [
        ("website", "100.0", "5"), ("phone", "40.0", "2"), ("API", "20.0", "1"), ("Open311 integration", "0.0", "0"),
        ("Telegram", "20.0", "1"), ("WhatsApp", "20.0", "1")]
    assert rows[0][3] == "50%"
    assert 'id="promises"' in html and "No promises recorded" in html
    assert "Almaly" in html and "other districts" in html and "no district given" in html


def test_a_broadcast_with_no_questions_renders_as_a_page_and_a_pdf(app, staff_client):
    with app.app_context():
        broadcasts.save_broadcast({"slug": "empty", "title_ru": "Пустой эфир"})
    client = staff_client("head")
    page = client.get("/broadcasts/empty/report?lang=ru")
    assert page.status_code == 200 and "Пустой эфир" in page.get_data(as_text=True)
    pdf = client.get("/broadcasts/empty/report.pdf?lang=ru")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    xlsx = load_workbook(io.BytesIO(client.get("/broadcasts/empty/report.xlsx").data))
    assert xlsx.active.max_row == 1


def test_the_ended_broadcasts_list_links_to_its_report(app, town_hall, staff_client):
    client = staff_client("admin")
    token = csrf_token(client, "/admin/broadcasts/2")
    client.post("/admin/broadcasts/2/status", data={"csrf_token": token, "status": "ended"})
    listing = client.get("/admin/broadcasts").get_data(as_text=True)
    assert f'href="/broadcasts/{SLUG}/report"' in listing
    assert f'href="/broadcasts/{SLUG}/report"' in client.get("/admin/broadcasts/2").get_data(as_text=True)
    head = staff_client("head")  # the head has no broadcasts list: the report list instead
    assert 'href="/reports"' in head.get("/appeals").get_data(as_text=True)
    assert f'href="/broadcasts/{SLUG}/report"' in head.get("/reports").get_data(as_text=True)


# --- the PDF -----------------------------------------------------------------------------------

def pdf_text(data: bytes) -> str:
    """The PDF's text, its lines joined with spaces (a table cell wraps a question over several lines)."""
    assert data.startswith(b"%PDF")
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())


def test_the_pdf_reads_back_in_kazakh_and_russian(app, town_hall, staff_client):
    client = staff_client("mod")
    kk = pdf_text(client.get(f"/broadcasts/{SLUG}/report.pdf?lang=kk").data)
    assert "Әкіммен кездесу" in kk and KK_TEXT in kk and "Сұрақтар" in kk
    assert all(letter in kk for letter in "ӘәҒғҚқҢңӨөҰұҮүҺһІі" if letter in KK_TEXT + "Әкіммен кездесу Сұрақтар")
    ru = pdf_text(client.get(f"/broadcasts/{SLUG}/report.pdf?lang=ru").data)
    assert "Встреча с акимом" in ru and RU_TEXT in ru and "Вопросы" in ru
    assert town_hall["codes"][8] in ru and "55" in ru


# --- the questions' spreadsheet ----------------------------------------------------------------

def test_the_xlsx_has_every_filter_column_with_real_types(app, town_hall, staff_client):
    response = staff_client("mod").get(f"/broadcasts/{SLUG}/report.xlsx?lang=en")
    assert response.headers["Content-Disposition"] == f'attachment; filename="report-{SLUG}-2026-11-30.xlsx"' \
        or response.headers["Content-Disposition"].startswith(f'attachment; filename="report-{SLUG}-')
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header == ("Number", "Received", "Question", "Votes", "Askers", "Outcome", "Ground of rejection",
                      "Merged into", "Category", "District", "Channel", "Language", "On air", "Minutes to air",
                      "Appeal status", "Department", "Officer", "Due date", "Topics")
    by_code = {row[0]: dict(zip(header, row)) for row in rows[1:]}
    codes = town_hall["codes"]
    assert len(by_code) == 10
    one, two, eight = by_code[codes[1]], by_code[codes[2]], by_code[codes[8]]
    assert isinstance(one["Received"], datetime) and one["Received"] == datetime(2026, 11, 30, 18, 1)  # Almaty time
    assert isinstance(one["On air"], datetime) and one["Minutes to air"] == 1 and isinstance(one["Minutes to air"], (int, float))
    assert one["Askers"] == 2 and one["Outcome"] == "answered on air" and one["Category"] == "Transport and roads"
    assert one["Language"] == "kk" and one["District"] == "Almaly" and one["Channel"] == "website"
    assert two["Due date"] == datetime.combine(town_hall["dues"][2], datetime.min.time())  # a date cell
    assert two["Appeal status"] == "assigned to a department" and two["Votes"] == 1
    assert eight["Votes"] == 2 and eight["Officer"] == "officer" and eight["Due date"] is None  # a question only: no term
    assert by_code[codes[3]]["Merged into"] == codes[1] and by_code[codes[3]]["Outcome"] == "merged into another question"
    assert by_code[codes[5]]["Ground of rejection"] == "Spam"
    assert by_code[codes[6]]["Channel"] == "WhatsApp" and by_code[codes[10]]["Outcome"] == "never reviewed"


def test_the_csv_has_the_same_rows_and_never_runs_a_formula(app, town_hall, staff_client):
    with app.app_context():
        _ask(intake.get_broadcast(SLUG), "=HYPERLINK(\"http://evil\")")
    text = staff_client("mod").get(f"/broadcasts/{SLUG}/report.csv?lang=ru").get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows[0][0] == "Номер" and len(rows) == 12
    assert any(row[2] == "'=HYPERLINK(\"http://evil\")" for row in rows)


# --- the report by e-mail ------------------------------------------------------------------------

def test_recipients_are_checked_and_stored_normalised(app, ctx):
    b = intake.get_broadcast("demo")
    assert report_mail.save_recipients(b, "Head@Akimat.kz ru\n\n deputy@akimat.kz\nHead@akimat.kz kk", actor=None) == [
        ("Head@akimat.kz", "ru"), ("deputy@akimat.kz", "en")]
    assert b.report_recipients == "Head@akimat.kz ru\ndeputy@akimat.kz en"
    for bad in ("not-an-address", "a@b.kz de", "a@b.kz ru extra", "x" * 250 + "@b.kz", "".join(f"a{n}@b.kz\n" for n in range(21)),
                "y" * 7000, 42):
        with pytest.raises(ValidationError):
            report_mail.save_recipients(b, bad, actor=None)
    assert report_mail.save_recipients(b, "", actor=None) == [] and b.report_recipients == ""


def test_a_moderator_sets_the_recipients_on_the_broadcast_page_and_a_bad_line_is_named(app, staff_client):
    client = staff_client("mod")
    token = csrf_token(client, "/admin/broadcasts/1")
    saved = client.post("/broadcasts/demo/report/recipients", data={"csrf_token": token,
                                                                   "report_recipients": "head@akimat.kz kk"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/admin/broadcasts/1#report")
    assert "head@akimat.kz kk" in client.get("/admin/broadcasts/1").get_data(as_text=True)
    refused = client.post("/broadcasts/demo/report/recipients", data={"csrf_token": token,
                                                                     "report_recipients": "ok@akimat.kz\nnope"},
                          follow_redirects=True)
    assert "Line 2" in refused.get_data(as_text=True)
    with app.app_context():
        assert intake.get_broadcast("demo").report_recipients == "head@akimat.kz kk"
    assert client.post("/broadcasts/demo/report/recipients", data={"report_recipients": "a@b.kz"}).status_code == 400


def _end(app, slug=SLUG):
    with app.app_context():
        moderation.set_broadcast_status(intake.get_broadcast(slug), "ended", actor=None)


def _send(app) -> int:
    from companion.web.reports import mailed_pdf  # what the serving process's mailer renders
    with app.app_context():
        return report_mail.send_due(mailed_pdf)


def test_ending_the_broadcast_e_mails_the_pdf_to_each_recipient_in_their_language(app, town_hall):
    with app.app_context():
        report_mail.save_recipients(intake.get_broadcast(SLUG), "head@akimat.kz kk\ndeputy@akimat.kz ru", actor=None)
    with Inbox() as inbox:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=inbox.port, MAIL_FROM="akimat@example.kz")
        _end(app)
        assert inbox.messages == []  # the end of the broadcast only queued them
        with app.app_context():
            rows = db.session.execute(select(OutboxMessage).where(OutboxMessage.channel == "email")).scalars().all()
            assert [(m.chat, m.language, m.state, m.kind) for m in rows] == [
                ("head@akimat.kz", "kk", "pending", "report"), ("deputy@akimat.kz", "ru", "pending", "report")]
        assert _send(app) == 2
        messages = inbox.wait(2)
    assert sorted(m.rcpt_tos[0] for m in messages) == ["deputy@akimat.kz", "head@akimat.kz"]
    by_rcpt = {m.rcpt_tos[0]: email.message_from_bytes(m.content, policy=email.policy.default) for m in messages}
    kk, ru = by_rcpt["head@akimat.kz"], by_rcpt["deputy@akimat.kz"]
    assert "Әкіммен кездесу" in kk["Subject"] and "Встреча с акимом" in ru["Subject"]
    assert f"/broadcasts/{SLUG}/report?lang=ru" in ru.get_body(("plain",)).get_content()
    attachment = next(ru.iter_attachments())
    assert attachment.get_content_type() == "application/pdf" and attachment.get_filename().startswith(f"report-{SLUG}-")
    # the copy that leaves by e-mail carries the numbers and the figures, not what residents wrote
    ru_pdf, kk_pdf = pdf_text(attachment.get_content()), pdf_text(next(kk.iter_attachments()).get_content())
    assert RU_TEXT not in ru_pdf and KK_TEXT not in kk_pdf and "Когда починят" not in ru_pdf
    assert "нет текстов жителей" in ru_pdf and "тұрғындар жазған мәтіндер жоқ" in kk_pdf
    assert town_hall["codes"][8] in ru_pdf
    with app.app_context():
        assert {m.state for m in db.session.execute(select(OutboxMessage)).scalars()} == {"sent"}
        assert _send_nothing_more(app) == 0


def test_a_recipient_taken_off_the_list_is_sent_nothing_more(app, town_hall):
    """A mistyped address may be somebody else's: once staff take it off, the e-mails queued for it stay unsent."""
    with app.app_context():
        report_mail.save_recipients(intake.get_broadcast(SLUG), "head@akimat.kz\nhaed@akimat.kz", actor=None)
    with Inbox() as inbox:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=inbox.port)
        _end(app)
        with app.app_context():
            report_mail.save_recipients(intake.get_broadcast(SLUG), "head@akimat.kz", actor=None)
        assert _send(app) == 1
        assert [m.rcpt_tos for m in inbox.wait(1)] == [["head@akimat.kz"]]
    with app.app_context():
        states = dict(db.session.execute(select(OutboxMessage.chat, OutboxMessage.state)).all())
    assert states == {"head@akimat.kz": "sent", "haed@akimat.kz": "canceled"}


def test_e_mail_it_now_sends_again_at_once_after_the_mail_server_failed(app, town_hall, staff_client):
    """A mail server that was down, now fixed: staff need not wait for the backoff, nor are they refused."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=closed, SMTP_TIMEOUT=2, OUTBOX_BACKOFF_SECONDS=3600)
    with app.app_context():
        report_mail.save_recipients(intake.get_broadcast(SLUG), "head@akimat.kz", actor=None)
    _end(app)
    assert _send(app) == 1  # refused: retried in an hour
    client = staff_client("head")
    page = client.get(f"/broadcasts/{SLUG}/report").get_data(as_text=True)
    assert 'id="mail-failing"' in page and "ConnectionRefusedError" in page
    button = page.split('action="/broadcasts/town-hall/report/mail"', 1)[1].split("</form>", 1)[0]
    assert "disabled" not in button
    with Inbox() as inbox:
        app.config.update(SMTP_PORT=inbox.port)
        sent = client.post(f"/broadcasts/{SLUG}/report/mail", data={"csrf_token": csrf_token(client, f"/broadcasts/{SLUG}/report")},
                           follow_redirects=True)
        assert "e-mailed to 1 recipient" in sent.get_data(as_text=True)
        assert _send(app) == 1
        assert [m.rcpt_tos for m in inbox.wait(1)] == [["head@akimat.kz"]]
    with app.app_context():
        assert sorted(db.session.execute(select(OutboxMessage.state)).scalars()) == ["canceled", "sent"]


def _send_nothing_more(app) -> int:
    from companion.web.reports import render_pdf
    return report_mail.send_due(render_pdf)


def test_a_failing_mail_server_is_retried_then_a_dead_letter_staff_see(app, town_hall, staff_client):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=closed, SMTP_TIMEOUT=2, OUTBOX_MAX_ATTEMPTS=2)
    with app.app_context():
        report_mail.save_recipients(intake.get_broadcast(SLUG), "head@akimat.kz", actor=None)
    _end(app)
    assert _send(app) == 1
    with app.app_context():
        row = db.session.execute(select(OutboxMessage)).scalar_one()
        assert (row.state, row.attempts) == ("failed", 1) and "ConnectionRefusedError" in row.last_error
        assert report_mail.send_due(lambda b, lang: (b"%PDF", "x.pdf")) == 0  # not due before its backoff
        row.next_attempt_at = row.next_attempt_at - timedelta(hours=1)
        db.session.commit()
        assert report_mail.send_due(lambda b, lang: (b"%PDF", "x.pdf")) == 1
        assert db.session.execute(select(OutboxMessage.state)).scalar_one() == "dead"
    page = staff_client("admin").get("/appeals/undelivered").get_data(as_text=True)
    assert "broadcast report (e-mail)" in page


def test_no_mail_server_is_a_failure_recorded_not_an_error(app, town_hall):
    app.config.update(SMTP_HOST="")
    with app.app_context():
        report_mail.save_recipients(intake.get_broadcast(SLUG), "head@akimat.kz", actor=None)
    _end(app)
    assert _send(app) == 1
    with app.app_context():
        row = db.session.execute(select(OutboxMessage)).scalar_one()
        assert row.state == "failed" and "no mail server" in row.last_error


def test_one_process_sends_a_row_another_has_claimed(app, town_hall):
    with app.app_context():
        report_mail.save_recipients(intake.get_broadcast(SLUG), "head@akimat.kz", actor=None)
    _end(app)
    with app.app_context():
        row = db.session.execute(select(OutboxMessage)).scalar_one()
        now = row.next_attempt_at + timedelta(seconds=1)
        assert outbox.claim(row.id, now) is True
        assert outbox.claim(row.id, now) is False  # the other process's attempt finds it leased
        assert report_mail.send_due(lambda b, lang: (b"%PDF", "x.pdf"), now=now) == 0


def test_e_mail_it_now_queues_once_and_needs_recipients(app, town_hall, staff_client):
    client = staff_client("head")
    token = csrf_token(client, f"/broadcasts/{SLUG}/report")
    refused = client.post(f"/broadcasts/{SLUG}/report/mail", data={"csrf_token": token}, follow_redirects=True)
    assert "Add the report" in refused.get_data(as_text=True)
    with app.app_context():
        report_mail.save_recipients(intake.get_broadcast(SLUG), "head@akimat.kz\ndeputy@akimat.kz", actor=None)
    with Inbox() as inbox:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=inbox.port)
        queued = client.post(f"/broadcasts/{SLUG}/report/mail", data={"csrf_token": token}, follow_redirects=True)
        assert "e-mailed to 2 recipients" in queued.get_data(as_text=True)
        assert inbox.messages == []  # never inside the request
        again = client.post(f"/broadcasts/{SLUG}/report/mail", data={"csrf_token": token}, follow_redirects=True)
        assert "already on its way" in again.get_data(as_text=True)
        assert client.post(f"/broadcasts/{SLUG}/report/mail", data={}).status_code == 400  # no CSRF token
        assert _send(app) == 2
        assert len(inbox.wait(2)) == 2
    with app.app_context():
        assert db.session.execute(select(OutboxMessage.state)).scalars().all() == ["sent", "sent"]
        with pytest.raises(ValidationError):
            report_mail.send_now(intake.get_broadcast("demo"), actor=None)


def test_a_broadcast_called_off_before_it_started_sends_no_report(app, ctx):
    b = broadcasts.save_broadcast({"slug": "called-off", "title_en": "Called off"})
    report_mail.save_recipients(b, "head@akimat.kz", actor=None)
    moderation.set_broadcast_status(b, "ended", actor=None)
    assert db.session.execute(select(OutboxMessage)).scalars().all() == []


def test_the_pdf_lists_the_most_asked_and_says_how_many_more_the_page_has(app, town_hall, staff_client, monkeypatch):
    from companion.web import reports
    monkeypatch.setattr(reports, "PDF_LIST_LIMITS", {"answered": 1, "follow_ups": 1, "not_reached": 1})
    client = staff_client("mod")
    text = pdf_text(client.get(f"/broadcasts/{SLUG}/report.pdf?lang=en").data)
    codes = town_hall["codes"]
    assert codes[8] in text and codes[7] not in text and codes[10] not in text  # the most voted of the four
    assert "Listed here: 1 of 4, the most asked first." in text and "Listed here: 1 of 3" in text  # not reached, answered
    page = client.get(f"/broadcasts/{SLUG}/report?lang=en").get_data(as_text=True)
    assert all(codes[n] in page for n in (7, 8, 9, 10)) and "Listed here" not in page  # the page has 500 a list


def test_the_page_lists_the_first_rows_and_links_to_every_one(app, town_hall, staff_client, monkeypatch):
    from companion.web import reports
    monkeypatch.setattr(reports, "PAGE_LIST_LIMIT", 2)
    client = staff_client("mod")
    codes = town_hall["codes"]
    page = client.get(f"/broadcasts/{SLUG}/report?lang=en").get_data(as_text=True)
    listed = re.search(r'id="not-reached".*?</section>', page, re.S).group(0)
    assert codes[8] in listed and "Listed here: 2 of 4, the most asked first." in listed
    assert f'href="/broadcasts/{SLUG}/report?all=1&amp;lang=en#not-reached"' in listed
    every = client.get(f"/broadcasts/{SLUG}/report?all=1&lang=en").get_data(as_text=True)
    assert all(codes[n] in every for n in (7, 8, 9, 10)) and "Listed here" not in every


def test_the_promises_made_on_air_are_in_the_report_page_and_pdf(app, town_hall, staff_client):
    from datetime import date
    from companion.models import Promise, PromiseStatus
    with app.app_context():
        b = intake.get_broadcast(SLUG)
        db.session.add_all([
            Promise(broadcast_id=b.id, text="Двор на Кенесары, 40 заасфальтируют к июню", department_id=1,
                    responsible="", due_date=date(2027, 6, 1), stream_offset=754, status=PromiseStatus.PLANNED.value,
                    evidence_url="", evidence_note="", published=True, version=1),
            Promise(broadcast_id=b.id, text="Лифт заменят", department_id=None, responsible="ТОО «Лифт»",
                    due_date=date(2020, 1, 1), stream_offset=120, status=PromiseStatus.PLANNED.value,
                    evidence_url="", evidence_note="", published=False, version=1)])
        db.session.commit()
    r = report_of(app)
    assert [p["text"] for p in r["promises"]] == ["Лифт заменят", "Двор на Кенесары, 40 заасфальтируют к июню"]
    assert r["promises"][0]["state"] == "late" and r["promises"][0]["moment"] == "2:00"
    assert r["promises"][0]["who"] == "ТОО «Лифт»" and r["promises"][1]["moment"] == "12:34"
    html = staff_client("mod").get(f"/broadcasts/{SLUG}/report?lang=ru").get_data(as_text=True)
    assert "Двор на Кенесары, 40 заасфальтируют к июню" in html and "не опубликовано" in html
    ru = pdf_text(staff_client("mod").get(f"/broadcasts/{SLUG}/report.pdf?lang=ru").data)
    assert "Лифт заменят" in ru and "12:34" in ru
