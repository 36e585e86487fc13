"""The broadcast report on the real server, in Chromium: the serving process counts its viewers while the
broadcast is live, a moderator sets the recipients, the end of the broadcast e-mails the PDF (sent by the
server's own background task, not the request), and the page reads at 360 px and at 1366x768."""
from __future__ import annotations

import email
import email.policy
import time

import pytest
import socketio as sio
from sqlalchemy import select

from companion import create_app
from companion.extensions import db
from companion.models import AudienceCount, Broadcast, User
from companion.services import accounts, passwords, report_mail

from ..conftest import PASSWORD, test_config
from companion.testing.liveserver import LiveServer
from ..test_appeals_http import Inbox
from ..test_broadcast_report import DISTRICTS, KK_TEXT, RU_TEXT, SLUG, pdf_text, seed_town_hall
from .test_rehearsal import SCREENSHOTS, browser, signed_in  # noqa: F401 - fixtures

pytestmark = pytest.mark.anywhere  # counts viewers and mails with wide deadlines, times nothing


def _viewer(server) -> sio.Client:
    client = sio.Client(reconnection=False)
    client.connect(server.url, headers={"Cookie": server.viewer_cookie(SLUG)}, auth={"slug": SLUG},
                   transports=["websocket"], wait_timeout=10)
    return client


def _still_sending(app) -> int:
    with app.app_context():
        try:
            return report_mail.waiting(db.session.get(Broadcast, 2))
        finally:
            db.session.remove()


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page scrolls sideways: {width}px"


def test_the_report_is_recorded_live_mailed_at_the_end_and_legible_on_a_phone(browser, tmp_path):  # noqa: F811
    with Inbox() as inbox:
        server = LiveServer(tmp_path, AUDIENCE_SAMPLE_SECONDS=1, REPORT_MAIL_SECONDS=1, DISTRICTS=DISTRICTS,
                            SMTP_HOST="127.0.0.1", SMTP_PORT=inbox.port, MAIL_FROM="akimat@example.kz").start()
        try:
            app = create_app(test_config(tmp_path, DATABASE_URL=server.env["COMPANION_DATABASE_URL"]))
            with app.app_context():
                accounts.create_user("head", "head", PASSWORD)
                admin = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
                admin.password_hash = passwords.make(PASSWORD)  # the admin seed-demo made, with a known password
                db.session.commit()
                db.session.remove()
            town_hall = seed_town_hall(app)

            # three viewers on the live broadcast: the serving process writes its count within a second or two
            viewers = [_viewer(server) for _ in range(3)]
            deadline = time.monotonic() + 10
            counted = None
            while time.monotonic() < deadline and counted != 3:
                time.sleep(0.3)
                with app.app_context():
                    counted = db.session.execute(select(AudienceCount.viewers).where(
                        AudienceCount.process.not_in(["web-1", "web-2"]))).scalars().first()
                    db.session.remove()
            assert counted == 3
            for viewer in viewers:
                viewer.disconnect()

            # a moderator types the recipients on the broadcast's page, as a person does
            mod = signed_in(browser, server, "mod", "/admin/broadcasts/2", viewport={"width": 1366, "height": 768})
            assert mod.locator("#report_recipients").count() == 1, mod.inner_text("main")[:2000]
            mod.fill("#report_recipients", "head@akimat.kz kk\ndeputy@akimat.kz ru")
            mod.click("#report button[type=submit]:has-text('Save')")
            mod.wait_for_selector(".flash.ok")
            assert mod.input_value("#report_recipients") == "head@akimat.kz kk\ndeputy@akimat.kz ru"
            mod.fill("#report_recipients", "head@akimat.kz\nnot an address")
            mod.click("#report button[type=submit]:has-text('Save')")
            assert "Line 2" in mod.inner_text(".flash.error")

            # the admin ends the broadcast; the server's mailer sends the PDF to both, in their languages
            admin = signed_in(browser, server, "admin", "/admin/broadcasts/2", viewport={"width": 1366, "height": 768})
            admin.click("main form button[value=ended]")
            admin.click("#end-confirm button[value=yes]")  # it asks first
            admin.wait_for_selector(".badge.ended")
            messages = inbox.wait(2, timeout=60)
            assert sorted(m.rcpt_tos[0] for m in messages) == ["deputy@akimat.kz", "head@akimat.kz"]
            deadline = time.monotonic() + 20  # the mailer marks a row sent just after the mail server took it
            while time.monotonic() < deadline and _still_sending(app):
                time.sleep(0.2)
            for message in messages:
                parsed = email.message_from_bytes(message.content, policy=email.policy.default)
                text = pdf_text(next(parsed.iter_attachments()).get_content())
                kk = message.rcpt_tos[0] == "head@akimat.kz"
                assert ("Эфир туралы есеп" if kk else "Отчёт об эфире") in text  # each in its language
                assert KK_TEXT not in text and RU_TEXT not in text  # what residents wrote stays in Companion

            # the ended broadcast's page links to the report; the report reads at 1366x768
            admin.click("a:has-text('Report')")
            admin.wait_for_selector("#by-channel")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            admin.screenshot(path=str(SCREENSHOTS / "report-1366.png"))
            admin.screenshot(path=str(SCREENSHOTS / "report-1366-full.png"), full_page=True)
            _no_sideways_scroll(admin)
            assert admin.inner_text("#by-channel tbody tr:first-child").split()[-2:] == ["5", "50%"]

            # the head has no broadcasts list: the nav's report list, then the report on a phone, in Kazakh and Russian
            head = signed_in(browser, server, "head", "/appeals", viewport={"width": 360, "height": 740},
                             is_mobile=True, device_scale_factor=2)
            head.click("nav a:has-text('Broadcast reports')")
            head.click(f"a[href='/broadcasts/{SLUG}/report']")
            head.wait_for_selector("#by-channel")
            for lang in ("kk", "ru"):
                head.goto(f"{server.url}/broadcasts/{SLUG}/report?lang={lang}")
                _no_sideways_scroll(head)
                smallest = head.evaluate("""Math.min(...[...document.querySelectorAll('.bars th, .bars td.num, .stack td')]
                                            .map(e => parseFloat(getComputedStyle(e).fontSize)))""")
                assert smallest >= 12, smallest
                head.screenshot(path=str(SCREENSHOTS / f"report-360-{lang}.png"))
                head.screenshot(path=str(SCREENSHOTS / f"report-360-{lang}-full.png"), full_page=True)
            assert town_hall["codes"][8] in head.inner_text("#not-reached")

            # "E-mail it now": queued by the request, sent by the server's mailer
            head.click("button:has-text('Отправить по почте сейчас')")
            head.wait_for_selector(".flash.ok")
            assert len(inbox.wait(4, timeout=60)) == 4
            with app.app_context():
                assert db.session.get(Broadcast, 2).peak_viewers == 55
                db.session.remove()
        finally:
            server.stop()
