"""Each rule has one home and holds wherever it is applied: who sees which appeal and which question (one
row in Python, a list in SQL: the two must agree), how long a field may be, what an id may be, and when a
notice goes out."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from flask import current_app
from sqlalchemy import select

from companion import permissions
from companion.config import LANGUAGES, in_fallback_order
from companion.extensions import db
from companion.models import Appeal, Department, Question, QuestionStatus, Role, User
from companion.services import accounts, apikeys, appeal_list, intake, organisation, outbox
from companion.errors import NotFound, ValidationError
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
    assert Limit.USERNAME == User.__table__.c.username.type.length


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
    assert [(a.id, kind) for a, kind in outbox.take_noted()] == [(appeal.id, "answer")]
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
    found = [f"{path.relative_to(ROOT)}:{n}" for path in [*(ROOT / "static/js/desk").glob("*.js"), ROOT / "static/js/moderate.js"]
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if listed.search(line)]
    assert found == []
