"""The morning after the broadcast, as a reviewer found it: a Kazakh question asked from the Russian page
is not tagged with the heating keyword for its "жылы", and two staff acting at once on one promise (one
publishing, one withdrawing) cannot leave a withdrawn promise published (PostgreSQL: queries yield there)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from companion.errors import Conflict
from companion.extensions import db
from companion.models import Broadcast, Promise, User
from companion.services import deadlines, promises
from companion.services.topics import compile_rules, match

HEATING = 1


@pytest.mark.parametrize("text, language", [
    ("Осы жылы жол жөндеу бола ма?", "ru"),   # Kazakh, sent from the Russian page
    ("2025 жылы аулада жарық жоқ", "ru"),
    ("Жылы су жоқ, қашан береді?", None),      # a channel that sends no language
    ("Осы жылы жол жөндеу бола ма?", "en"),
])
def test_kazakh_text_in_the_year_is_not_heating_whatever_language_it_came_with(text, language):
    rules = compile_rules([(HEATING, "жылу\nотопление")])
    assert match(rules, text, language) == set()


@pytest.mark.parametrize("text, language", [
    ("Мектепте жылу жоқ", "ru"), ("Мектепте жылу жоқ", "kk"), ("Үйде жылу беру қашан басталады?", None),
    ("В доме нет отопления", "ru"), ("В доме нет отопления", "kk"),
])
def test_heating_is_still_found(text, language):
    rules = compile_rules([(HEATING, "жылу\nотопление")])
    assert match(rules, text, language) == {HEATING}


def test_a_promise_withdrawn_meanwhile_is_not_published_by_a_page_that_saw_it_before(pg_app):
    """Both pages saw version 1; the withdrawal committed between the publishing request's check of the
    version and its write. The publishing is refused as a stale page's, and the promise stays withdrawn."""
    import psycopg2
    with pg_app.test_request_context("/"):
        head = db.session.execute(select(User).where(User.username == "head")).scalar_one()
        broadcast = db.session.execute(select(Broadcast).where(Broadcast.slug == "demo")).scalar_one()
        marked = promises.mark_promise(broadcast, {"text": "Repair the bus stop", "department_id": 1,
                                                   "due_date": (deadlines.local_date() + timedelta(days=7)).isoformat()},
                                       actor=head)
        pid = marked.id
        db.session.remove()
        head = db.session.execute(select(User).where(User.username == "head")).scalar_one()
        promise = promises.get_promise(pid, user=head, version="1", changing=True)  # the check passed
        other = psycopg2.connect(pg_app.config["DATABASE_URL"])  # another member of staff withdraws it now
        with other, other.cursor() as cur:
            cur.execute("UPDATE promise SET status = 'withdrawn', version = 2 WHERE id = %s", (pid,))
        other.close()
        with pytest.raises(Conflict):
            promises.set_published(promise, True, actor=head)
        db.session.rollback()
        db.session.expire_all()
        row = db.session.get(Promise, pid)
        assert (row.status, row.published, row.version) == ("withdrawn", False, 2)
        assert promises.published_promises() == []
