"""Personal data (issue 20, item 8): the consent and its version, the opt-in to show a name in public,
the retention period, and the resident's withdrawal of consent."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from companion.extensions import db
from companion.models import Appeal, AppealEvent, AuditEvent, Question, User, Vote, utcnow
from companion.services import appeals, intake, moderation, privacy, reports
from companion.errors import ValidationError

from .test_cli import run
from .test_sockets import act, ask, drain, latest, received

NAME, DISTRICT = "Dana Serikova", "Samal-2"


def stored(app, question_id: int) -> tuple[Question, Appeal]:
    q = db.session.get(Question, question_id)
    return q, q.appeal


# --- the consent and its version -------------------------------------------------------------

def test_a_viewers_consent_is_recorded_with_its_version_and_time(app, viewer_socket):
    before = utcnow()
    ack = ask(viewer_socket(), author_name=NAME, contact="+77012345678", consent=True)
    with app.app_context():
        q, appeal = stored(app, ack["question"]["id"])
        for row in (q, appeal):
            assert (row.consent_version, row.consent_form) == (privacy.CONSENT_VERSION, "web")
            assert before <= row.consent_at <= utcnow()


def test_no_consent_is_recorded_when_none_was_given_or_no_personal_data_was(app, viewer_socket):
    viewer = viewer_socket()
    plain = ask(viewer, client_id="client-plain-1")
    ticked = ask(viewer, client_id="client-plain-2", consent=True)  # ticked, but nothing personal to agree about
    with app.app_context():
        for ack in (plain, ticked):
            q, appeal = stored(app, ack["question"]["id"])
            assert (q.consent_version, q.consent_at, appeal.consent_version) == ("", None, "")


def test_a_phone_callers_consent_is_recorded_as_oral(app, staff_socket):
    mod = staff_socket("mod")
    ack = mod.emit("add_phone_question", {"text": "Когда починят лифт?", "author_name": NAME, "contact": "87012345678",
                                          "consent": True, "client_id": "phone-consent-1"}, namespace="/staff",
                   callback=True)
    assert ack["ok"], ack
    with app.app_context():
        q, appeal = stored(app, ack["question"]["id"])
        assert (q.consent_form, appeal.consent_form, appeal.consent_version) == ("oral", "oral", privacy.CONSENT_VERSION)


def test_the_viewer_form_shows_the_consent_with_the_laws_elements(app):
    app.config.update(OFFICE_NAME_RU="Аппарат акима района «Есиль» города Астаны", RETENTION_DAYS=1095)
    client = app.test_client()
    client.set_cookie("lang", "ru")
    html = client.get("/b/demo").get_data(as_text=True)
    assert 'id="q-consent"' in html and 'id="q-show-name"' in html
    assert "Даю согласие на сбор и обработку моих персональных данных" in html
    assert "Оператор: Аппарат акима района «Есиль» города Астаны." in html.replace("&#34;", '"').replace("&laquo;", "«")
    assert "3 года" in html and 'href="/privacy"' in html


@pytest.mark.parametrize("lang, office, term", [("kk", "Есіл ауданы әкімінің аппараты", "3 жыл"),
                                                ("ru", "Аппарат акима района Есиль", "3 года"),
                                                ("en", "Office of the Akim of Yesil district", "3 years")])
def test_the_privacy_page_names_the_operator_and_the_term_in_each_language(app, lang, office, term):
    app.config.update(OFFICE_NAME_KK="Есіл ауданы әкімінің аппараты", OFFICE_NAME_RU="Аппарат акима района Есиль",
                      OFFICE_NAME_EN="Office of the Akim of Yesil district")
    client = app.test_client()
    client.set_cookie("lang", lang)
    html = client.get("/privacy").get_data(as_text=True)
    assert office in html and term in html and privacy.CONSENT_VERSION in html


def test_the_term_is_in_days_when_not_whole_years(ctx):
    from flask import current_app
    current_app.config["RETENTION_DAYS"] = 1000
    assert privacy.retention_term("ru") == "1000 дней"
    current_app.config["RETENTION_DAYS"] = 730
    assert privacy.retention_term("kk") == "2 жыл"


# --- the asker's name on public screens --------------------------------------------------------

def approve_one(mod):
    q = latest(mod).popitem()[1]
    act(mod, "approve", q)
    return q


def names_in(payload) -> bool:
    return NAME in repr(payload) or DISTRICT in repr(payload)


def test_without_the_opt_in_public_screens_get_no_name_and_no_district(app, viewer_socket, staff_socket):
    mod = staff_socket("mod")
    audience = viewer_socket()
    drain(audience, "/")
    ask(viewer_socket(), author_name=NAME, district=DISTRICT, contact="+77012345678", consent=True)
    q = approve_one(mod)
    [event] = received(audience, "feed_changed", "/")
    assert event["questions"][0]["visible"] and not names_in(event)
    act(mod, "send_to_air", latest(mod)[q["id"]])
    snapshot = audience.emit("get_snapshot", {}, namespace="/", callback=True)
    assert not names_in(snapshot) and not names_in(received(audience, "feed_changed", "/"))
    assert not names_in(app.test_client().get("/api/v1/broadcasts/demo").get_data(as_text=True))
    for page in ("/present/demo", "/b/demo"):
        assert not names_in(app.test_client().get(page).get_data(as_text=True))
    with app.app_context():
        key = intake.get_broadcast("demo").overlay_key
    assert not names_in(app.test_client().get(f"/overlay/demo?key={key}").get_data(as_text=True))
    assert names_in(latest(mod))  # the desk (staff) sees them


def test_with_the_opt_in_public_screens_show_the_name_and_district(app, viewer_socket, staff_socket):
    mod = staff_socket("mod")
    audience = viewer_socket()
    drain(audience, "/")
    ask(viewer_socket(), author_name=NAME, district=DISTRICT, show_name=True, consent=True)
    approve_one(mod)
    [event] = received(audience, "feed_changed", "/")
    public = event["questions"][0]
    assert (public["author_name"], public["district"]) == (NAME, DISTRICT)


def test_the_broadcast_setting_can_still_hide_the_names_of_those_who_agreed(app, viewer_socket, staff_socket):
    mod = staff_socket("mod")
    mod.emit("update_settings", {"settings": {"show_asker": False}}, namespace="/staff", callback=True)
    audience = viewer_socket()
    drain(audience, "/")
    ask(viewer_socket(), author_name=NAME, district=DISTRICT, show_name=True, consent=True)
    approve_one(mod)
    assert not names_in(received(audience, "feed_changed", "/"))


def test_the_teleprompter_sees_the_name_and_whether_it_may_be_said_on_air(ctx):
    from companion.presenters import prompter_question, public_question
    broadcast = intake.get_broadcast("demo")
    quiet, _ = intake.submit_question(broadcast, {"text": "One", "author_name": NAME, "consent": True, "client_id": "prompt-0001"})
    loud, _ = intake.submit_question(broadcast, {"text": "Two", "author_name": NAME, "consent": True, "show_name": "on",
                                                 "client_id": "prompt-0002"})
    assert prompter_question(quiet, broadcast)["author_name"] == NAME
    assert prompter_question(quiet, broadcast)["name_on_air"] is False
    assert prompter_question(loud, broadcast)["name_on_air"] is True
    moderation.transition(broadcast, quiet.id, "approve", actor=None)
    assert public_question(quiet, broadcast)["author_name"] == ""


def test_the_opt_in_is_off_by_default_and_needs_a_name_or_district(ctx):
    broadcast = intake.get_broadcast("demo")
    assert intake.validate_submission(broadcast, {"text": "Q", "author_name": NAME, "consent": True}, "ru")["show_name"] is False
    assert intake.validate_submission(broadcast, {"text": "Q", "show_name": True}, "ru")["show_name"] is False
    assert intake.validate_submission(broadcast, {"text": "Q", "district": DISTRICT, "show_name": "false"},
                                      "ru")["show_name"] is False


# --- the retention period --------------------------------------------------------------------

def admin() -> User:
    return db.session.execute(select(User).where(User.username == "admin")).scalar_one()


def make_appeals() -> dict[str, Appeal]:
    """Four appeals with a name, a district and a contact: closed long ago (two), closed lately, still open."""
    from flask import current_app
    current_app.config["DISTRICTS"] = "Samal|Самал"
    broadcast = intake.get_broadcast("demo")
    made = {}
    for key, district in (("old", "Самал"), ("old2", "Zhetysu 5"), ("recent", "Samal"), ("open", "Samal")):
        q, _ = intake.submit_question(broadcast, {"text": f"Question {key}", "author_name": NAME, "district": district,
                                                  "contact": "+77012345678", "consent": True, "show_name": True,
                                                  "client_id": f"retain-{key}-01"}, viewer_token=f"viewer-{key}")
        made[key] = q.appeal
    for key in ("old", "old2", "recent"):
        appeal = made[key]
        appeals.assign(appeal, 1, actor=admin())
        appeals.answer(appeal, "The answer", actor=admin())
        appeals.close(appeal, actor=admin())
    long_ago = utcnow() - timedelta(days=1096)
    for key in ("old", "old2"):
        made[key].closed_at = made[key].answered_at = made[key].updated_at = long_ago
    made["open"].updated_at = long_ago  # open: never erased, however old
    db.session.add(Vote(question_id=made["old"].question_id, voter="voter-token-1"))
    db.session.commit()
    return made


def test_retention_erases_contacts_of_finished_appeals_and_keeps_the_rest(ctx):
    made = make_appeals()
    roadmap_before = reports.compute_roadmap()
    totals = privacy.erase_expired()
    assert (totals["appeals"], totals["questions"], totals["votes"]) == (2, 2, 1)
    for key in ("old", "old2"):
        appeal = db.session.get(Appeal, made[key].id)
        q = appeal.question
        assert (appeal.author_name, appeal.contact, appeal.address, q.author_name, q.contact, q.district) == ("",) * 6
        assert (q.viewer_token, q.source_hash, q.show_name) == (None, "", False)
        assert appeal.text == f"Question {key}" and appeal.answer == "The answer" and appeal.status == "closed"
        assert appeal.anonymised_at is not None and appeal.tracking_code
    assert db.session.get(Appeal, made["old"].id).district == "Samal"  # the office's bucket, not what was typed
    assert db.session.get(Appeal, made["old2"].id).district == reports.OTHER_DISTRICT
    for key in ("recent", "open"):
        appeal = db.session.get(Appeal, made[key].id)
        assert (appeal.author_name, appeal.contact, appeal.anonymised_at) == (NAME, "+77012345678", None)
        assert appeal.question.viewer_token == f"viewer-{key}"
    roadmap_after = reports.compute_roadmap()
    for figures in (roadmap_before, roadmap_after):
        figures.pop("computed_at")
    assert roadmap_after == roadmap_before


def test_retention_is_idempotent_works_in_batches_and_audits_counts_only(ctx):
    make_appeals()
    first = privacy.erase_expired(batch_size=1)
    assert (first["appeals"], first["batches"]) == (2, 2)
    again = privacy.erase_expired(batch_size=1)
    assert (again["appeals"], again["questions"], again["batches"]) == (0, 0, 0)
    events = db.session.execute(select(AuditEvent).where(AuditEvent.action == "erase_expired")
                                .order_by(AuditEvent.id)).scalars().all()
    assert [e.detail["appeals"] for e in events] == [2, 0]
    assert NAME not in repr([e.detail for e in events]) and "+7701" not in repr([e.detail for e in events])


def test_the_retention_period_is_a_setting(ctx):
    from flask import current_app
    made = make_appeals()
    current_app.config["RETENTION_DAYS"] = 5000
    assert privacy.erase_expired()["appeals"] == 0
    current_app.config["RETENTION_DAYS"] = 0
    assert privacy.erase_expired()["appeals"] == 3  # the recently closed one too; the open one never
    assert db.session.get(Appeal, made["open"].id).contact == "+77012345678"


def test_erase_expired_runs_from_the_command_line_and_prints_counts_only(tmp_path):
    run(tmp_path, "init-db")
    out = run(tmp_path, "erase-expired", "--batch-size", "10")
    assert "Anonymised 0 appeal(s)" in out.stdout


# --- withdrawal of consent -----------------------------------------------------------------------

def private_address(app, ack) -> str:
    q = ack["question"]
    return f"/track/{q['tracking_code']}/{q['access_code']}"


def withdraw_token(client, address: str) -> str:
    html = client.get(f"{address}/withdraw-consent").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_the_confirm_page_says_in_plain_words_what_withdrawal_does(app, viewer_socket):
    ack = ask(viewer_socket(), author_name=NAME, contact="+77012345678", consent=True)
    client = app.test_client()
    client.set_cookie("lang", "en")
    address = private_address(app, ack)
    assert 'withdraw-consent' in client.get(address).get_data(as_text=True)
    page = client.get(f"{address}/withdraw-consent")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "cannot send you a written answer" in html and "a question only" in html
    with app.app_context():
        assert stored(app, ack["question"]["id"])[1].contact == "+77012345678"  # a GET erases nothing


def test_withdrawing_consent_erases_the_name_and_contact_at_once(app, viewer_socket):
    ack = ask(viewer_socket(), author_name=NAME, district="Самал", contact="+77012345678", consent=True)
    client = app.test_client()
    address = private_address(app, ack)
    token = withdraw_token(client, address)
    response = client.post(f"{address}/withdraw-consent", data={"csrf_token": token, "confirm": "yes"})
    assert response.status_code == 302 and response.headers["Location"].endswith(address)
    with app.app_context():
        q, appeal = stored(app, ack["question"]["id"])
        assert (appeal.author_name, appeal.contact, q.author_name, q.contact, q.district) == ("",) * 5
        assert appeal.consent_withdrawn_at is not None and appeal.text == q.text
        assert [e.action for e in appeal.events][-1] == "consent_withdrawn"
        # without a name and a contact it goes on as a question only: no term runs any more
        assert appeal.statutory is False and appeal.clock_running is False
        assert appeal.follow_up is False  # no contact is left for a written answer
        assert q.viewer_token  # the resident still follows it under "my questions"
    assert "You withdrew your consent" in client.get(f"{address}/withdraw-consent").get_data(as_text=True)
    again = client.post(f"{address}/withdraw-consent", data={"csrf_token": token, "confirm": "yes"})
    assert again.status_code == 302
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(AppealEvent).where(
            AppealEvent.action == "consent_withdrawn")).scalar_one() == 1


def test_withdrawal_without_csrf_or_confirmation_or_with_a_wrong_code_is_refused(app, viewer_socket):
    ack = ask(viewer_socket(), author_name=NAME, contact="+77012345678", consent=True)
    client = app.test_client()
    address = private_address(app, ack)
    assert client.post(f"{address}/withdraw-consent", data={"confirm": "yes"}).status_code == 400
    assert client.post(f"{address}/withdraw-consent",
                       data={"csrf_token": withdraw_token(client, address)}).status_code == 400
    wrong = f"/track/{ack['question']['tracking_code']}/aaaa-aaaa-aaaa-aaaa/withdraw-consent"
    token = withdraw_token(client, address)
    assert client.post(wrong, data={"csrf_token": token, "confirm": "yes"}).status_code == 404
    assert client.get(wrong).status_code == 404
    with app.app_context():
        assert stored(app, ack["question"]["id"])[1].contact == "+77012345678"


def test_withdrawal_takes_the_name_off_public_screens(app, viewer_socket, staff_socket):
    mod = staff_socket("mod")
    audience = viewer_socket()
    ack = ask(viewer_socket(), author_name=NAME, district=DISTRICT, contact="+77012345678", consent=True, show_name=True)
    approve_one(mod)
    drain(audience, "/")
    client = app.test_client()
    address = private_address(app, ack)
    client.post(f"{address}/withdraw-consent", data={"csrf_token": withdraw_token(client, address), "confirm": "yes"})
    [event] = received(audience, "feed_changed", "/")
    assert event["questions"][0]["visible"] and not names_in(event)


def test_the_back_office_shows_which_consent_was_given_and_when(app, viewer_socket, staff_client):
    ack = ask(viewer_socket(), author_name=NAME, contact="+77012345678", consent=True)
    with app.app_context():
        appeal_id = stored(app, ack["question"]["id"])[1].id
    client = staff_client("admin")
    client.set_cookie("lang", "en")
    html = client.get(f"/appeals/{appeal_id}").get_data(as_text=True)
    assert "ticked on the question form" in html and f"text version {privacy.CONSENT_VERSION}" in html


def test_a_consent_sent_through_the_api_is_recorded_as_declared_by_the_sender(app):
    body = app.test_client().post("/api/v1/broadcasts/demo/questions", json={
        "text": "Когда починят лифт?", "author_name": NAME, "contact": "+77012345678", "consent": True,
        "show_name": True, "language": "ru"}).json
    with app.app_context():
        q, appeal = stored(app, body["id"])
        assert (q.consent_form, appeal.consent_version, q.show_name) == ("api", privacy.CONSENT_VERSION, True)


def test_the_status_page_offers_withdrawal_only_when_there_is_personal_data(app, viewer_socket):
    viewer = viewer_socket()
    named = ask(viewer, client_id="client-named-1", author_name=NAME, contact="+77012345678", consent=True)
    bare = ask(viewer, client_id="client-bare-01")
    client = app.test_client()
    assert "withdraw-consent" in client.get(private_address(app, named)).get_data(as_text=True)
    assert "withdraw-consent" not in client.get(private_address(app, bare)).get_data(as_text=True)


CONSENT_TEXT_SHA256 = {"2026-12-01": "29cfc6c182018dc5"}  # the English text each version was: a changed text needs a new version


def test_a_changed_consent_text_comes_with_a_new_version(ctx):
    import hashlib

    from flask import current_app
    from flask_babel import force_locale
    current_app.config.update(OFFICE_NAME_EN="OFFICE", RETENTION_DAYS=1095)
    with force_locale("en"):
        text = "\n".join([str(privacy.CONSENT_SENTENCE), str(privacy.SHOW_NAME_SENTENCE), *privacy.consent_points("en")])
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    assert CONSENT_TEXT_SHA256.get(privacy.CONSENT_VERSION) == digest, (
        f"the consent text changed: bump privacy.CONSENT_VERSION and record {digest} for it here")


@pytest.mark.parametrize("fields", [{"author_name": NAME}, {"author_name": NAME, "district": DISTRICT},
                                    {"contact": "+77011234567"}, {"author_name": NAME, "consent": "no"}])
def test_a_name_or_a_contact_is_kept_only_with_consent(ctx, fields):
    broadcast = intake.get_broadcast("demo")
    with pytest.raises(ValidationError) as refused:
        intake.validate_submission(broadcast, {"text": "Q", **fields}, "ru")
    assert "consent" in refused.value.fields and "name and contact" in str(refused.value.fields["consent"])
    # a district alone names no one: no consent needed
    assert intake.validate_submission(broadcast, {"text": "Q", "district": DISTRICT}, "ru")["district"] == DISTRICT


def test_an_open311_appeal_with_a_name_records_the_consent_its_sending_system_declared(app):
    from companion.services import apikeys
    with app.app_context():
        _, key = apikeys.create_key("e-Otinish", actor=None)
    client = app.test_client()
    named = client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "1", "address_string": "Abay 10", "description": "Bench is broken",
        "first_name": "Serik", "last_name": "Abenov", "email": "serik@example.kz"})
    bare = client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "1", "address_string": "Abay 12", "description": "Another bench"})
    assert named.status_code == bare.status_code == 201
    with app.app_context():
        with_name = appeals.by_code(named.json[0]["service_request_id"])
        without = appeals.by_code(bare.json[0]["service_request_id"])
        assert (with_name.consent_form, with_name.consent_version) == ("api", privacy.CONSENT_VERSION)
        assert with_name.consent_at is not None
        assert (without.consent_form, without.consent_version, without.consent_at) == ("", "", None)
    page = app.test_client()
    from .conftest import login
    login(page, "admin")
    assert "declared by the sending system" in page.get(f"/appeals/{with_name.id}").get_data(as_text=True)


def test_retention_erases_the_photos_a_chat_attached_with_the_personal_data(ctx):
    from companion.models import AppealFile
    made = make_appeals()
    for key in ("old", "recent"):
        db.session.add(AppealFile(appeal_id=made[key].id, channel="telegram", platform_id=f"photo-{key}",
                                  mime_type="image/jpeg", size=4, data=b"\xff\xd8\xff\x00", created_at=utcnow()))
    db.session.commit()
    privacy.erase_expired()
    assert list(db.session.scalars(select(AppealFile.platform_id))) == ["photo-recent"]
