"""Topic tags beyond the single category: the keyword rules in kk/ru/en, applied as appeals arrive on every
channel and again on demand (staff's choices kept), the admin's page, the appeal's page, the list's filter,
the exports and the analytics."""
from __future__ import annotations

import csv
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, func, select, update

from companion import create_app
from companion.extensions import db
from companion.models import AppealEvent, AppealTopic, AuditEvent, Topic, TopicRun, User
from companion.services import analytics, apikeys, appeals, topics
from companion.errors import ValidationError

from .conftest import test_config
from .test_appeals_http import appeal_id, ask, assign, version
from .test_cli import run as cli
from .test_sockets import ask as socket_ask

# the demo topics (services/broadcasts.DEMO_TOPICS), by their English names
ROADS, LIGHTING, HEATING, YARDS, TRANSPORT = "Roads", "Street lighting", "Heating", "Yards", "Public transport"


def topic_id(name_en: str) -> int:
    return db.session.execute(select(Topic.id).where(Topic.name_en == name_en)).scalar_one()


def tags(code: str) -> dict[str, str]:
    """The appeal's topics by English name -> state (call within an app context)."""
    appeal = appeals.by_code(code)
    return {row.topic.name_en: row.state for row in db.session.execute(
        select(AppealTopic).where(AppealTopic.appeal_id == appeal.id)).scalars()}


def user(name: str) -> User:
    return db.session.execute(select(User).where(User.username == name)).scalar_one()


def token(client, url: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).get_data(as_text=True)).group(1)


# --- the rules ---------------------------------------------------------------------------------------

RULES = [(1, "дорога\nжол\npothole"), (2, "фонарь\nшам\nstreetlight"), (3, "горячая вода"), (4, "жылу"),
         (5, "қар\n32 автобус")]


@pytest.mark.parametrize("text, language, expected", [
    ("Когда починят дороги в нашем районе?", "ru", {1}),            # дорога -> дороги (Russian stem)
    ("На дорогах ямы, фонари не горят", "ru", {1, 2}),               # two topics at once
    ("Біздің көшедегі жолдары бұзылған", "kk", {1}),                 # жол -> жолдары (Kazakh endings)
    ("Ауладағы шамдар жанбайды", "kk", {2}),                         # шам -> шамдар
    ("Жолдың жағдайы нашар", "kk", {1}),                             # жол -> жолдың (a Kazakh letter: cut as Kazakh)
    ("ДОРОГУ так и не отремонтировали", "ru", {1}),                  # case
    ("Potholes on Abay avenue and the streetlights are out", "en", {1, 2}),
    ("Нет горячей воды третий день", "ru", {3}),                     # a phrase, both words inflected
    ("Вода горячая идёт только ночью", "ru", set()),                 # a phrase's words in another order
    ("Биыл жыл сайын су тасқыны болады", "kk", set()),               # "жыл" (a year) is not "жылу" (heating)
    ("Осы жылы аулаға орындық қойылды ма", "kk", set()),              # "жылы" (in the year) is not "жылу" either
    ("Былтыр жылы су берілмеді", "kk", set()),                        # nor "жылы" (warm)
    ("Үйде жылу жоқ, батареялар суық", "kk", {4}),                   # but "жылу" (heating) still is
    ("Карта района устарела", "ru", set()),                          # "карта" is not Kazakh "қар" (snow)
    ("Маршрут 32 автобус ходит редко", "ru", {5}),                   # a number in a phrase
    ("Маршрут 33 автобус ходит редко", "ru", set()),
    ("Когда починят дороги? Қашан жөнделеді?", "kk", {1}),           # a Russian word in a Kazakh text
])
def test_a_topic_rule_matches_its_word_or_phrase_in_any_inflected_form(text, language, expected):
    rules = topics.compile_rules(RULES)
    assert topics.match(rules, text, language) == expected


def test_a_stored_keyword_of_stop_words_alone_tags_nothing():
    """A rule saved before such lines were refused: "и" would have tagged every Russian appeal."""
    rules = topics.compile_rules([(1, "и\nthe"), (2, "дорога")])
    assert topics.match(rules, "Когда и где отремонтируют дорогу", "ru") == {2}
    assert topics.match(rules, "The lights and the road", "en") == set()


def test_keyword_lines_are_cleaned_and_bad_ones_named_by_line():
    assert topics.parse_keywords("  дорога \n\nДорога\nжол   жөндеу\n") == ["дорога", "жол жөндеу"]
    assert topics.parse_keywords("нет воды\nжылу жоқ") == ["нет воды", "жылу жоқ"]  # a stop word beside a topic's word
    for text, problem in (("ok\n" + "я" * 101, "Line 2: At most 100 characters."), ("ok\n!!!", "Line 2: Type a word"),
                          ("a\u202eb", "Line 1: This text contains characters"),
                          # a word in almost every text would tag every appeal
                          ("дорога\nи", "Line 2: “и” is in almost every text"),
                          ("жол\nжәне мен", "Line 2: “және мен” is in almost every text"),
                          ("The", "Line 1: “The” is in almost every text")):
        with pytest.raises(ValidationError) as exc:
            topics.parse_keywords(text)
        assert str(exc.value.fields["keywords"]).startswith(problem)
    with pytest.raises(ValidationError) as exc:
        topics.parse_keywords("\n".join(f"word{i}" for i in range(201)))
    assert str(exc.value.fields["keywords"]) == "At most 200 keywords."


# --- applied as appeals arrive --------------------------------------------------------------------------

def test_topics_are_suggested_when_an_appeal_arrives_on_every_channel(app, viewer_socket):
    # the viewer's page: the question's socket event (the writer stores it with its appeal)
    ack = socket_ask(viewer_socket(), text="Во дворе не горят фонари, вечером темно", client_id="topics-0001")
    assert ack["ok"], ack
    web = ack["question"]["tracking_code"]
    # the JSON API
    api = ask(app, "Автобус 32 не ходит по маршруту, остановка без навеса")["tracking_code"]
    # Open311, Kazakh
    with app.app_context():
        _, key = apikeys.create_key("109 centre", actor=None)
    created = app.test_client().post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "1", "address_string": "Kenesary 5",
        "description": "Кенесары көшесіндегі жолдар шұңқыр, пәтерде жылу жоқ"})
    assert created.status_code == 201, created.get_data(as_text=True)
    open311 = created.json[0]["service_request_id"]
    nothing = ask(app, "Спасибо за эфир")["tracking_code"]
    with app.app_context():
        assert tags(web) == {YARDS: "suggested", LIGHTING: "suggested"}
        assert tags(api) == {TRANSPORT: "suggested"}
        assert tags(open311) == {ROADS: "suggested", HEATING: "suggested"}
        assert tags(nothing) == {}
        # a topic an admin adds applies to the next appeal at once (the rules' cache sees the change)
        admin = user("admin")
        topics.save_topic({"name_kk": "Қар", "name_ru": "Снег", "name_en": "Snow", "keywords": "снег\nқар", "active": "1"},
                          actor=admin)
    snow = ask(app, "Снег во дворе не убирают")["tracking_code"]
    with app.app_context():
        assert tags(snow) == {"Snow": "suggested", YARDS: "suggested"}
        topics.save_topic({"name_kk": "Қар", "name_ru": "Снег", "name_en": "Snow", "keywords": "снег",
                           "version": str(db.session.get(Topic, topic_id("Snow")).version)},
                          topic_id("Snow"), actor=user("admin"))  # switched off: suggested no more
    later = ask(app, "Снег не убирают")["tracking_code"]
    with app.app_context():
        assert tags(later) == {}


# --- applied again on demand ---------------------------------------------------------------------------

def test_reapplying_the_rules_changes_suggestions_only_and_keeps_staff_choices(app):
    codes = [ask(app, text)["tracking_code"] for text in (
        "Во дворе нет освещения, фонари разбиты",         # yards + lighting
        "Дорога во дворе вся в ямах",                     # roads + yards
        "Отопление не работает, батареи холодные",        # heating
        "Спасибо за ответ")]                              # nothing
    with app.app_context():
        officer = user("admin")
        first = appeals.by_code(codes[0])
        topics.choose(first, topic_id(YARDS), "confirm", actor=officer)
        topics.choose(appeals.by_code(codes[1]), topic_id(ROADS), "remove", actor=officer)
        # the rules change: yards no longer says "двор", roads does not change, heating gets "ответ" (a test's rule)
        for name, keywords in ((YARDS, "аула\nyard"), (HEATING, "отопление\nответ")):
            topic = db.session.get(Topic, topic_id(name))
            topics.save_topic({"name_kk": topic.name_kk, "name_ru": topic.name_ru, "name_en": topic.name_en,
                               "keywords": keywords, "active": "1", "version": str(topic.version)}, topic.id, actor=officer)
        assert topics.rules_changed_since(topics.latest_run())
        old = topics.request_retag(officer)
        run = topics.request_retag(officer)  # asked again: the first one starts over
        assert db.session.get(TopicRun, old.id).state == "superseded"
        assert topics.work(batch_size=3) == 2  # 4 appeals, 3 a batch: two batches, the second ends the run
        run = db.session.get(TopicRun, run.id)
        assert (run.state, run.done, run.changed) == ("done", 4, 2)
        assert not topics.rules_changed_since(run)
        assert tags(codes[0]) == {YARDS: "confirmed", LIGHTING: "suggested"}  # confirmed: kept without its rule
        assert tags(codes[1]) == {ROADS: "removed"}                          # removed: not suggested again
        assert tags(codes[2]) == {HEATING: "suggested"}
        assert tags(codes[3]) == {HEATING: "suggested"}                      # the new rule
        # applied again with nothing changed, nothing changes
        run = topics.request_retag(officer)
        topics.work()
        assert db.session.get(TopicRun, run.id).changed == 0 and tags(codes[1]) == {ROADS: "removed"}
        # a topic switched off: applied again, its suggestions go; what staff confirmed of it would stay
        lighting = db.session.get(Topic, topic_id(LIGHTING))
        topics.save_topic({"name_kk": lighting.name_kk, "name_ru": lighting.name_ru, "name_en": lighting.name_en,
                           "keywords": lighting.keywords, "version": str(lighting.version)}, lighting.id, actor=officer)
        run = topics.request_retag(officer)
        topics.work()
        assert db.session.get(TopicRun, run.id).changed == 1 and tags(codes[0]) == {YARDS: "confirmed"}


def test_a_batch_claimed_by_another_process_is_not_done_twice(app):
    ask(app, "Дорога разбита")
    with app.app_context():
        run = topics.request_retag(None)
        real = topics.current_rules

        def meanwhile():  # another process takes the same batch between this one's reading and its claim
            rules = real()
            db.session.execute(update(TopicRun).where(TopicRun.id == run.id).values(below_id=1, done=99))
            db.session.commit()
            return rules
        topics.current_rules = meanwhile
        try:
            assert topics.retag_batch(run.id) is True
        finally:
            topics.current_rules = real
        row = db.session.get(TopicRun, run.id)
        assert (row.below_id, row.done) == (1, 99)  # this process's batch was dropped, not added to it
        assert topics.retag_batch(run.id) is False and db.session.get(TopicRun, run.id).state == "done"


def test_a_serving_process_works_on_a_run_in_the_background_and_survives_a_failed_round(app, monkeypatch):
    code = ask(app, "Фонари не горят")["tracking_code"]
    with app.app_context():
        db.session.execute(delete(AppealTopic))
        db.session.commit()
        run_id = topics.request_retag(None).id
    real, calls, naps = topics.work, [], []

    def work(**options):  # the first round fails (the database away): the loop goes on
        calls.append(options)
        if len(calls) == 1:
            raise RuntimeError("database away")
        return real(**options)

    def sleep(seconds):
        naps.append(seconds)
        if len(naps) > 4:
            raise StopIteration
    monkeypatch.setattr(topics, "work", work)
    with pytest.raises(StopIteration):
        topics.retag_forever(app, sleep)
    # idle, failed; idle, one batch (the run ends); a short pause, nothing left; idle again
    assert naps == [topics.IDLE_SECONDS, topics.IDLE_SECONDS, topics.BATCH_PAUSE_SECONDS, topics.IDLE_SECONDS, topics.IDLE_SECONDS]
    assert all(c == {"max_batches": 1} for c in calls)
    with app.app_context():
        assert db.session.get(TopicRun, run_id).state == "done" and tags(code) == {LIGHTING: "suggested"}


def test_the_retag_command_applies_the_rules_to_every_appeal(tmp_path):
    cli(tmp_path, "init-db")
    cli(tmp_path, "seed-demo")
    app = create_app(test_config(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}"))
    with app.app_context():
        from companion.services import intake
        for i in range(3):
            intake.submit_question(intake.get_broadcast("demo"), {"text": f"Фонарь {i} не горит", "client_id": f"cli-{i:04d}"})
        db.session.execute(delete(AppealTopic))  # as if they had come before the topics
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    out = cli(tmp_path, "retag", "--batch-size", "2").stdout
    assert "Done: 3 appeal(s), 3 with changed suggestions." in out
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(AppealTopic)
                                  .where(AppealTopic.state == "suggested")).scalar_one() == 3
        db.session.remove()
        db.engine.dispose()


# --- the admin's page ------------------------------------------------------------------------------------

def test_admins_add_change_and_switch_off_topics_and_bad_input_comes_back_whole(app, staff_client):
    admin = staff_client("admin")
    page = admin.get("/admin/topics")
    assert page.status_code == 200 and "Street lighting" in page.get_data(as_text=True)
    csrf = token(admin, "/admin/topics")
    new = {"csrf_token": csrf, "name_kk": "Қар тазалау", "name_ru": "Уборка снега", "name_en": "Snow clearing",
           "keywords": "снег\nқар\nsnow", "active": "1"}
    created = admin.post("/admin/topics", data=new)
    assert created.status_code == 302
    with app.app_context():
        snow = db.session.execute(select(Topic).where(Topic.name_en == "Snow clearing")).scalar_one()
        assert (snow.keywords, snow.active, snow.version) == ("снег\nқар\nsnow", True, 1)
        snow_id = snow.id
    # bad input: every bad field named in a 400, everything typed still in the form, hostile text escaped
    hostile = '<script>alert("x")</script>'
    bad = admin.post("/admin/topics", data={**new, "name_ru": "", "name_en": hostile + "я" * 100,
                                            "keywords": "снег\n" + "ы" * 101})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400
    form = html[html.index('id="topic-form-new"'):]
    assert 'id="tnew-name_ru-error">This field is required.' in form
    assert 'id="tnew-name_en-error">At most 100 characters.' in form
    assert 'id="tnew-keywords-error">Line 2: At most 100 characters.' in form
    assert 'value="Қар тазалау"' in form and "снег\n" + "ы" * 101 in form and 'name="active" type="checkbox" value="1" checked' in form
    assert hostile not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in form
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Topic)).scalar_one() == 6
    # a change: new keywords, switched off (the box left unticked), its version taken
    with app.app_context():
        seen = db.session.get(Topic, snow_id).version  # the version the page's form carries
    changed = admin.post(f"/admin/topics/{snow_id}", data={**new, "keywords": "сугроб", "active": "", "version": str(seen)})
    assert changed.status_code == 302
    with app.app_context():
        snow = db.session.get(Topic, snow_id)
        assert (snow.keywords, snow.active, snow.version) == ("сугроб", False, 2)
        assert db.session.execute(select(AuditEvent).where(AuditEvent.action == "topic_saved")).scalars().all()
    bad_edit = admin.post(f"/admin/topics/{snow_id}", data={**new, "name_kk": "  ", "version": "2"})
    assert bad_edit.status_code == 400 and f'id="t{snow_id}-name_kk-error"' in bad_edit.get_data(as_text=True)
    assert admin.post("/admin/topics/9999", data=new).status_code == 404
    assert admin.post("/admin/topics", data={**new, "csrf_token": "forged"}).status_code == 400  # no valid CSRF token
    # the other roles: 403 on the page and on every form
    for name in ("mod", "officer", "head", "operator"):
        other = staff_client(name)
        own = token(other, "/")  # their own session's token (the log-out form's): the role is what is refused
        assert other.get("/admin/topics").status_code == 403
        assert other.post("/admin/topics", data={**new, "csrf_token": own}).status_code == 403
        assert other.post(f"/admin/topics/{snow_id}", data={**new, "csrf_token": own}).status_code == 403
        assert other.post("/admin/topics/retag", data={"csrf_token": own}).status_code == 403
    with app.app_context():
        assert db.session.get(Topic, snow_id).version == 2


def test_the_admins_button_reapplies_the_rules_newest_first(app, staff_client):
    code = ask(app, "Сугробы во дворе")["tracking_code"]
    admin = staff_client("admin")
    with app.app_context():
        assert tags(code) == {YARDS: "suggested"}
        topics.save_topic({"name_kk": "Қар", "name_ru": "Снег", "name_en": "Snow", "keywords": "сугроб", "active": "1"},
                          actor=user("admin"))
    page = admin.get("/admin/topics").get_data(as_text=True)
    assert 'id="rules-changed"' in page
    done = admin.post("/admin/topics/retag", data={"csrf_token": token(admin, "/admin/topics")}, follow_redirects=True)
    assert done.status_code == 200 and "Last applied" in done.get_data(as_text=True)
    with app.app_context():
        assert tags(code) == {YARDS: "suggested", "Snow": "suggested"}  # the first batch: in the request
        assert topics.latest_run().state == "done"


# --- the appeal's page -------------------------------------------------------------------------------------

def test_staff_confirm_and_remove_suggested_topics_on_the_appeals_page(app, staff_client):
    code = ask(app, "Автобус не останавливается, на остановке темно, фонарь разбит")["tracking_code"]
    aid = appeal_id(app, code)
    assert staff_client("officer").get(f"/appeals/{aid}").status_code == 403  # not yet their department's
    assign(app, code, 1)
    officer = staff_client("officer")
    page = officer.get(f"/appeals/{aid}").get_data(as_text=True)
    assert 'data-topic="' in page and "Public transport" in page and "Street lighting" in page
    with app.app_context():
        transport, lighting, heating = topic_id(TRANSPORT), topic_id(LIGHTING), topic_id(HEATING)
    csrf = token(officer, f"/appeals/{aid}")
    seen = version(app, code)
    confirm = officer.post(f"/appeals/{aid}/topic", data={"csrf_token": csrf, "version": seen, "topic_id": transport,
                                                          "choice": "confirm"})
    assert confirm.status_code == 302
    # the same page's second form, sent with the version it was shown with: refused, nothing changed
    stale = officer.post(f"/appeals/{aid}/topic", data={"csrf_token": csrf, "version": seen, "topic_id": lighting,
                                                        "choice": "remove"})
    assert stale.status_code == 409 and "changed by someone else" in stale.get_data(as_text=True)
    with app.app_context():
        assert tags(code) == {TRANSPORT: "confirmed", LIGHTING: "suggested"}
    removed = officer.post(f"/appeals/{aid}/topic", data={"csrf_token": csrf, "version": version(app, code),
                                                          "topic_id": lighting, "choice": "remove"})
    assert removed.status_code == 302
    added = officer.post(f"/appeals/{aid}/topic", data={"csrf_token": csrf, "version": version(app, code),
                                                        "topic_id": heating, "choice": "confirm"})
    assert added.status_code == 302  # a topic the rules did not suggest, added by hand
    for form, status in (({"topic_id": heating, "choice": "maybe"}, 400), ({"topic_id": "x", "choice": "confirm"}, 400),
                         ({"topic_id": topic_id_of(app, YARDS), "choice": "remove"}, 400)):
        assert officer.post(f"/appeals/{aid}/topic", data={"csrf_token": csrf, "version": version(app, code),
                                                           **form}).status_code == status
    with app.app_context():
        assert tags(code) == {TRANSPORT: "confirmed", LIGHTING: "removed", HEATING: "confirmed"}
        appeal = appeals.by_code(code)
        steps = [(e.action, e.public, e.actor.username) for e in appeal.events if e.action.startswith("topic_")]
        assert steps == [("topic_confirmed", False, "officer"), ("topic_removed", False, "officer"),
                         ("topic_confirmed", False, "officer")]
        assert db.session.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action.like("appeal_topic_%"))).scalar_one() == 3
    page = officer.get(f"/appeals/{aid}").get_data(as_text=True)
    assert "Topic confirmed: Public transport" in page and "Topic removed: Street lighting" in page
    assert 'id="removed-topics"' in page
    officer.get("/lang/ru")
    assert "Тема подтверждена: Общественный транспорт" in officer.get(f"/appeals/{aid}").get_data(as_text=True)
    # the resident's page never shows staff's tagging
    with app.app_context():
        access = appeals.by_code(code).access_code
    public = app.test_client().get(f"/track/{code}/{access}").get_data(as_text=True)
    assert "Public transport" not in public and "Topic" not in public
    # who may act: those who see the appeal; an operator has no back office at all
    operator = staff_client("operator")
    assert operator.post(f"/appeals/{aid}/topic", data={"csrf_token": token(operator, "/"), "version": version(app, code),
                                                        "topic_id": lighting, "choice": "confirm"}).status_code == 403
    with app.app_context():
        appeals.assign(appeals.by_code(code), 2, actor=user("admin"))
    assert officer.post(f"/appeals/{aid}/topic", data={"csrf_token": csrf, "version": version(app, code), "topic_id": lighting,
                                                       "choice": "confirm"}).status_code == 403
    head = staff_client("head")
    assert head.post(f"/appeals/{aid}/topic", data={"csrf_token": token(head, f"/appeals/{aid}"), "version": version(app, code),
                                                    "topic_id": lighting, "choice": "confirm"}).status_code == 302
    with app.app_context():
        assert tags(code)[LIGHTING] == "confirmed"


def topic_id_of(app, name: str) -> int:
    with app.app_context():
        return topic_id(name)


# --- the list, the exports, the analytics ------------------------------------------------------------------

def test_the_list_filters_by_topic_and_the_exports_have_a_topics_column(app, staff_client):
    roads = ask(app, "Дорога вся в ямах", district="Алмалы")["tracking_code"]
    heating = ask(app, "Батареи холодные, отопления нет")["tracking_code"]
    admin = staff_client("admin")
    with app.app_context():
        roads_id, yards_id = topic_id(ROADS), topic_id(YARDS)
        topics.choose(appeals.by_code(heating), yards_id, "confirm", actor=user("admin"))
    listed = admin.get(f"/appeals?topic_id={roads_id}").get_data(as_text=True)
    assert roads in listed and heating not in listed
    assert f'<option value="{roads_id}" selected>Roads</option>' in listed
    assert heating in admin.get(f"/appeals?topic_id={yards_id}").get_data(as_text=True)
    bad = admin.get("/appeals?topic_id=roads")
    assert bad.status_code == 400 and "topic_id" in bad.get_data(as_text=True)
    response = admin.get("/appeals/export.csv?sep=comma")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][-1] == "Topics"
    by_code = {row[0]: row[-1] for row in rows[1:]}
    assert by_code[roads] == "Roads (suggested)"
    assert by_code[heating] == "Yards, Heating (suggested)"  # confirmed first
    only = list(csv.reader(io.StringIO(admin.get(f"/appeals/export.csv?sep=comma&topic_id={roads_id}")
                                       .get_data(as_text=True).lstrip("\ufeff"))))
    assert [row[0] for row in only[1:]] == [roads]
    admin.get("/lang/ru")
    sheet = load_workbook(io.BytesIO(admin.get("/appeals/export.xlsx").data), read_only=True).active
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert table[0][-1] == "Темы"
    assert {row[0]: row[-1] for row in table[1:]}[roads] == "Дороги (предложена)"


def test_the_analytics_count_appeals_by_topic(app, staff_client):
    for text in ("Дорога разбита", "Дорога и фонари", "Фонари не горят"):
        assign(app, ask(app, text)["tracking_code"], 1)  # taken up: counted as under consideration
    with app.app_context():
        payload = analytics.compute(everything=True)
        rows = {row[0]: row[1] for row in analytics.tables(payload, "en")["topic"]["rows"]}
    assert rows == {ROADS: 2, LIGHTING: 2}
    page = staff_client("head").get("/analytics").get_data(as_text=True)
    assert 'id="topic"' in page and "By topic" in page


def test_a_choice_already_made_adds_no_second_step_and_no_version(app):
    """Found by the review of topic tags: "remove" sent twice recorded two identical steps."""
    code = ask(app, "Дорога во дворе вся в ямах")["tracking_code"]
    with app.app_context():
        admin = user("admin")
        for _ in range(2):
            appeal = topics.choose(appeals.by_code(code), topic_id(ROADS), "remove", actor=admin)
        version = appeal.version
        for _ in range(2):
            appeal = topics.choose(appeals.by_code(code), topic_id(ROADS), "confirm", actor=admin)
        assert appeal.version == version + 1
        steps = db.session.execute(select(AppealEvent.action).where(AppealEvent.appeal_id == appeal.id,
                                   AppealEvent.action.in_(("topic_removed", "topic_confirmed")))).scalars().all()
        assert steps == ["topic_removed", "topic_confirmed"]
