"""Each rule has one home and holds wherever it is applied: who sees which appeal and which question (one
row in Python, a list in SQL: the two must agree), how long a field may be, what an id may be, and when a
notice goes out."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from flask import current_app
from sqlalchemy import select

from companion import permissions
from companion.config import LANGUAGES, in_fallback_order
from companion.extensions import db
from companion.models import Appeal, Department, Question, QuestionStatus, Role, User
from companion.services import accounts, apikeys, appeal_list, fields, intake, moderation, organisation, outbox
from companion.errors import NotFound, StaleVersion, ValidationError
from companion.services.fields import Limit

from .test_services import demo, submit

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "companion"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module or "")
    return names


def test_the_authorisation_rules_are_plain_functions_with_no_flask_request():
    """permissions.py is what services, sockets and pages share: it may not reach for a request."""
    flask = {name for name in _imports(PACKAGE / "permissions.py") if name.split(".")[0].startswith("flask")}
    assert flask == set()


def test_only_the_configuration_reads_the_environment():
    readers = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.name == "config.py" or "testing" in path.relative_to(PACKAGE).parts:  # the tests' own tools may
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if re.search(r"os\.environ\b(?!\))|os\.getenv|environ\.get\(\"COMPANION", line) and "dict(os.environ)" not in line:
                readers.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    # backup.py hands the environment on to pg_dump as it is (dict(os.environ)); serve.py reads WSGI environs
    assert [r for r in readers if "environ.pop" not in r and "self.environ" not in r] == []


def test_the_languages_are_listed_once():
    spelled = []
    for path in PACKAGE.rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"""["']kk["'],\s*["']ru["'],\s*["']en["']""", line) and path.name != "config.py":
                spelled.append(f"{path.relative_to(ROOT)}:{number}")
    assert spelled == []
    assert in_fallback_order("en") == ("en", "kk", "ru") and in_fallback_order("xx") == LANGUAGES


def _lines_matching(pattern: str, *, home: str, known: tuple[str, ...] = ()) -> list[str]:
    """Where `pattern` is written in the package outside its `home` (a file name) and the `known` paths."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        where = str(path.relative_to(PACKAGE))
        if path.name == home or "migrations" in path.parts or where in known:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(pattern, line):
                found.append(f"{where}:{number}: {line.strip()[:100]}")
    return found


# services/operator.py and the channels are being changed elsewhere: their copies go with that change
CHANGED_ELSEWHERE = ()


def test_the_languages_are_named_once():
    assert _lines_matching(r"""_l\(["'](Kazakh|Russian|English)["']\)""", home="language.py") == []
    assert _lines_matching("Қазақша|Русский", home="config.py", known=CHANGED_ELSEWHERE) == []


def test_the_fallback_language_is_a_setting_not_a_literal():
    assert _lines_matching(r"""or ["']kk["']|default=["']kk["']|str = ["']kk["']""", home="config.py",
                           known=CHANGED_ELSEWHERE) == []


def test_the_kazakh_letters_are_listed_once():
    assert _lines_matching(r"KAZAKH_LETTERS\s*=", home="language.py") == []


def test_a_contact_is_masked_in_one_place():
    assert _lines_matching(r"""\*\*\*@|["']\*["'] \* max\(len\(\w+\) - 7""", home="fields.py",
                           known=CHANGED_ELSEWHERE) == []
    assert fields.mask_contact("+77011234567") == "+7701*****67"
    assert fields.mask_contact("whatsapp:77011234567") == "whatsapp:77011****67"  # the channel named, not masked
    assert fields.mask_contact("aigerim@mail.kz") == "a***@mail.kz" and fields.mask_contact("") == ""


# ---- the audience: what viewers see, as one row and as the list ------------------------------------

@pytest.mark.parametrize("public_feed", [True, False])
def test_what_the_audience_sees_is_one_rule_in_python_and_in_sql(ctx, public_feed):
    broadcast = demo()
    broadcast.public_feed = public_feed
    db.session.commit()
    made = {}
    for status in QuestionStatus:
        question = submit(f"A question left {status.value} on the desk", client_id=f"rule-{status.value}")
        question.status = status.value
        made[status] = question
    db.session.commit()
    listed = {q.id for q in db.session.scalars(permissions.audience_questions(select(Question), public_feed),
                                               {"broadcast_id": broadcast.id})}
    for status, question in made.items():
        assert permissions.audience_sees(question, broadcast) == (question.id in listed), status
    assert (made[QuestionStatus.APPROVED].id in listed) is public_feed
    assert made[QuestionStatus.ON_AIR].id in listed and made[QuestionStatus.PENDING].id not in listed
    # which of them the audience may still vote on, as the viewers' page is told (it keeps no list of its own)
    from companion.presenters import public_question
    votable = {status for status, q in made.items() if public_question(q, broadcast).get("votable")}
    assert votable == (set(permissions.VOTABLE) if public_feed else {QuestionStatus.ON_AIR})


# ---- the back office: which appeals a member of staff sees ---------------------------------------

def test_which_appeals_a_user_sees_is_one_rule_in_python_and_in_sql(ctx):
    departments = db.session.scalars(select(Department).order_by(Department.id)).all()[:2]
    appeals_made = []
    for n, department in enumerate([departments[0], departments[1], None]):
        question = submit(f"Please repair the pavement on street number {n}", client_id=f"rule-appeal-{n}",
                          author_name="Aigerim", contact="+77011234567", consent=True)
        appeal = question.appeal or db.session.scalar(select(Appeal).where(Appeal.question_id == question.id))
        assert appeal is not None
        appeal.department_id = department.id if department else None
        appeals_made.append(appeal)
    db.session.commit()
    people = [db.session.scalar(select(User).where(User.username == name))
              for name in ("admin", "head", "officer", "mod", "speaker", "operator")]
    loose, _ = accounts.create_user("officer2", Role.OFFICER, "correct-horse-battery")  # no department yet
    people.append(loose)
    for user in people:
        listed = {a.id for a in appeal_list.page(user, appeal_list.AppealFilter(), size=500)[0]}
        for appeal in appeals_made:
            assert permissions.may_see_appeal(user, appeal) == (appeal.id in listed), (user.username, appeal.department_id)
    admin, officer = people[0], people[2]
    assert all(permissions.may_see_appeal(admin, a) for a in appeals_made)
    assert [permissions.may_see_appeal(officer, a) for a in appeals_made] == [True, False, False]
    assert not any(permissions.may_see_appeal(people[-2], a) for a in appeals_made)  # the operator lists none


# ---- field limits and ids ------------------------------------------------------------------------

def test_a_name_setting_longer_than_the_column_is_held_to_the_column(ctx):
    """An office that sets NAME_MAX_LENGTH beyond the column gets a clear refusal, not a database error
    (PostgreSQL refuses a 150-character name in a 120-character column; SQLite would store it silently)."""
    current_app.config["NAME_MAX_LENGTH"] = 500
    with pytest.raises(ValidationError) as caught:
        intake.validate_submission(demo(), {"text": "A question", "author_name": "A" * (Limit.AUTHOR_NAME + 30),
                                            "consent": True}, "en")
    assert "120" in str(caught.value.fields["author_name"])
    accepted = intake.validate_submission(demo(), {"text": "A question", "author_name": "A" * Limit.AUTHOR_NAME,
                                                   "consent": True}, "en")
    assert len(accepted["author_name"]) == Limit.AUTHOR_NAME


@pytest.mark.parametrize("bad", ["abc", "1.5", "²", str(2 ** 64), "-3", "", None])
def test_a_bad_id_is_not_found_never_a_crash(ctx, bad):
    with pytest.raises(NotFound):
        accounts.get_user(bad)
    with pytest.raises(NotFound):
        apikeys.revoke_key(bad, actor=None)
    if bad:  # an empty id means "a new department"
        with pytest.raises(NotFound):
            organisation.save_department({"name_kk": "Бөлім", "name_ru": "Отдел", "name_en": "Unit"}, bad, actor=None)
        with pytest.raises(ValidationError):
            accounts.create_user("newperson", Role.OFFICER, "correct-horse-battery", department_id=bad)
    assert accounts.signed_in_user(bad, "some-login") is None


def test_the_limits_are_the_columns():
    assert Limit.AUTHOR_NAME == Appeal.__table__.c.author_name.type.length == Question.__table__.c.author_name.type.length
    assert Limit.CONTACT == Question.__table__.c.contact.type.length == Appeal.__table__.c.contact.type.length
    assert Limit.USERNAME <= User.__table__.c.username.type.length
    assert Limit.REJECT_NOTE == Question.__table__.c.reject_reason.type.length


# ---- each limit typed once: pages and scripts read them from services/fields.py ------------------

def test_no_page_or_script_types_a_length():
    """A maxlength on a page is `{{ limit.X }}` (or a setting the view passes), in a script `data.limits.X`:
    a number typed there drifts from the server's (the desk's edit box once took 4000 for a 1000 limit)."""
    typed = []
    for folder, pattern in ((ROOT / "templates", r"""maxlength=["']?\d"""),
                            (ROOT / "static" / "js", r"""maxlength["']?\s*[:=]\s*["']?\d""")):
        for path in folder.rglob("*"):
            if path.suffix not in (".html", ".js") or "vendor" in path.parts:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if re.search(pattern, line, re.IGNORECASE):
                    typed.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert typed == []


def test_the_cannot_be_stored_message_is_written_once():
    copies = [f"{path.relative_to(ROOT)}:{number}" for path in PACKAGE.rglob("*.py") if path.name != "fields.py"
              for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
              if "cannot be stored" in line]
    assert copies == []


def test_a_username_is_as_long_on_the_login_form_as_accounts_allow(ctx):
    from companion.web.forms import LoginForm, UserForm
    from wtforms.validators import Length
    longest = [v.max for form in (LoginForm, UserForm) for v in getattr(form, "username").kwargs["validators"]
               if isinstance(v, Length)]
    assert longest == [Limit.USERNAME, Limit.USERNAME]
    user, _ = accounts.create_user("u" * Limit.USERNAME, Role.OFFICER, "correct-horse-battery")
    assert len(user.username) == Limit.USERNAME
    with pytest.raises(ValidationError) as caught:
        accounts.create_user("u" * (Limit.USERNAME + 1), Role.OFFICER, "correct-horse-battery")
    assert str(Limit.USERNAME) in str(caught.value.fields["username"])  # "3 to 40 lowercase letters ..."


def test_the_desks_forms_take_what_the_server_takes(app, staff_client):
    """The edit box holds the QUESTION_MAX_LENGTH setting, the reject note its column: from the page data."""
    app.config["QUESTION_MAX_LENGTH"] = 321
    html = staff_client("mod").get("/moderate/demo").get_data(as_text=True)
    data = json.loads(re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S).group(1))
    assert data["limits"]["QUESTION"] == 321
    assert data["limits"]["REJECT_NOTE"] == Limit.REJECT_NOTE == 300
    assert data["limits"]["NAME"] == fields.name_limit(app.config)
    assert all(data["limits"][key] == value for key, value in Limit.as_dict().items())
    script = (ROOT / "static" / "js" / "desk" / "modes.js").read_text(encoding="utf-8")
    assert 'id: "edit-text", maxlength: data.limits.QUESTION' in script


def test_the_pages_carry_the_limits(app, staff_client):
    viewer = app.test_client().get("/b/demo").get_data(as_text=True)
    assert f'name="contact" maxlength="{Limit.CONTACT}"' in viewer
    operator = staff_client("operator").get("/operator").get_data(as_text=True)
    assert f'maxlength="{Limit.TRACKING_CODE}"' in operator and f'maxlength="{Limit.TYPED_PHONE}"' in operator


# ---- one routine for a text field, one for a version ---------------------------------------------

@pytest.mark.parametrize("value, version", [(0, 0), (1, 1), ("7", 7), (2 ** 63 - 1, 2 ** 63 - 1), (True, None),
                                            (False, None), (-1, None), ("-1", None), ("", None), (None, None),
                                            (1.0, None), ("1.0", None), ("²", None), ("٣", None), (2 ** 63, None),
                                            (" 3", None), ([1], None)])
def test_a_version_is_a_non_negative_int(value, version):
    assert fields.parse_version(value) == version


def test_a_text_field_is_cleaned_and_checked(ctx):
    assert fields.text("  Fix the lights \n", "note", 20) == "Fix the lights"
    assert fields.text(None, "note", 20) == ""
    assert fields.text("x" * 20, "note", 20) == "x" * 20
    for value, limit, required, message in [
            ("x" * 21, 20, False, "At most 20 characters."), ("bad\x00text", 20, False, "cannot be stored"),
            ("a\u202eb", 20, False, "cannot be stored"),
            ("note \x85", 20, False, "cannot be stored"), (5, 20, False, "cannot be stored"), (["x"], 20, True, "cannot be stored"), ("   ", 20, True, "This field is required."),
            (None, 20, True, "This field is required.")]:
        with pytest.raises(ValidationError) as caught:
            fields.text(value, "note", limit, required=required)
        assert list(caught.value.fields) == ["note"] and message in str(caught.value.fields["note"]), value
    with pytest.raises(ValidationError) as caught:
        fields.text("", "text", 20, required=True, required_message="Please write the message.")
    assert str(caught.value.fields["text"]) == "Please write the message."


def test_a_long_reject_note_is_refused_not_cut(ctx):
    question = submit("A question to reject with a long note", client_id="rule-reject-note")
    with pytest.raises(ValidationError) as caught:
        moderation.transition(demo(), question.id, "reject", actor=None, ground=moderation.REJECT_GROUNDS[0],
                              note="n" * (Limit.REJECT_NOTE + 1))
    assert str(Limit.REJECT_NOTE) in str(caught.value.fields["note"])


def test_a_stale_or_bad_version_on_the_desk(ctx):
    question = submit("A question seen at some version", client_id="rule-version")
    assert moderation.get_question(demo(), question.id, question.version).id == question.id
    assert moderation.get_question(demo(), question.id, str(question.version)).id == question.id
    for stale in (0, question.version + 1):  # zero is a version (a broadcast starts at 0), just not this one
        with pytest.raises(StaleVersion):
            moderation.get_question(demo(), question.id, stale)
    for bad in (True, "1.0", -1, "abc"):
        with pytest.raises(ValidationError):
            moderation.get_question(demo(), question.id, bad)


# ---- notices: a step tells the applicant once it is committed, and a step undone tells no one -------

def test_a_notice_noted_by_a_step_that_rolls_back_is_never_sent(ctx):
    question = submit("Please fix the lights on our street", client_id="rule-notice", author_name="Aigerim",
                      contact="aigerim@example.kz", consent=True)
    appeal = question.appeal or db.session.scalar(select(Appeal).where(Appeal.question_id == question.id))
    outbox.enqueue_notice(appeal, "answer")
    db.session.rollback()
    assert outbox.take_noted() == []
    outbox.enqueue_notice(appeal, "answer")
    db.session.commit()
    assert [(n.appeal.id, n.kind) for n in outbox.take_noted()] == [(appeal.id, "answer")]
    assert outbox.take_noted() == []  # once


def test_an_officers_undelivered_notices_are_chosen_before_the_list_is_cut(ctx):
    """Dead letters of other departments, however many and however new, never push an officer's own off the list."""
    from companion.models import OutboxMessage, utcnow
    mine = submit("Please repair the road on my street", client_id="rule-dead-1", author_name="Aigerim",
                  contact="+77011234567", consent=True).appeal
    mine.department_id = 1
    others = []
    for n in range(3):
        other = submit(f"Another district's appeal number {n}", client_id=f"rule-dead-o{n}", author_name="Aigerim",
                       contact="+77011234567", consent=True).appeal
        other.department_id = 2
        others.append(other)
    for appeal in [mine, *others]:  # the officer's oldest, the others' newer
        db.session.add(OutboxMessage(appeal=appeal, channel="telegram", chat="900001", kind="answer", text="x",
                                     state=outbox.DEAD, attempts=5, next_attempt_at=utcnow(), last_error="403",
                                     created_at=utcnow()))
    db.session.commit()
    officer = db.session.scalar(select(User).where(User.username == "officer"))
    seen = outbox.dead_letters(permissions.appeal_scope(officer), limit=1)
    assert [m.appeal_id for m in seen] == [mine.id]
    assert len(outbox.dead_letters(permissions.appeal_scope(db.session.scalar(
        select(User).where(User.username == "admin"))), limit=10)) == 4


def test_the_desk_scripts_keep_no_list_of_statuses_of_their_own():
    """The server sends each question's actions and whether it is open or mergeable; a list of statuses in the
    desk's JavaScript is a copy of the state machine that drifts (it did: deferred questions lost Edit)."""
    statuses = "|".join(s.value for s in QuestionStatus)
    listed = re.compile(rf"""["'](?:{statuses})["']\s*,\s*["'](?:{statuses})["']""")
    scripts = [*(ROOT / "static/js/desk").glob("*.js"), ROOT / "static/js/moderate.js", ROOT / "static/js/desk-board.js"]
    found = [f"{path.relative_to(ROOT)}:{n}" for path in scripts
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if listed.search(line)]
    assert found == []
    assert "statuses:" not in (ROOT / "static/js/desk-board.js").read_text(encoding="utf-8")  # the columns' own lists


def test_the_server_names_each_questions_column_on_the_desk():
    from companion.services.moderation import desk_column
    columns = {status: desk_column(type("Q", (), {"status": status.value})()) for status in QuestionStatus}
    assert columns[QuestionStatus.PENDING] == "incoming" and columns[QuestionStatus.ON_AIR] == "onair"
    assert {columns[s] for s in (QuestionStatus.ANSWERED, QuestionStatus.DEFERRED, QuestionStatus.REJECTED,
                                 QuestionStatus.MERGED)} == {"done"}
    assert set(columns.values()) == {"incoming", "approved", "queue", "onair", "done"}
