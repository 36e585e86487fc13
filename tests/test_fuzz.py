"""Fuzzing: the JSON API from its OpenAPI document (schemathesis) and every Socket.IO event (hypothesis).

No 5xx, no unhandled exception, no half-written rows, whatever arrives."""
from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from companion import create_app
from companion.extensions import db
from companion.models import Question, QuestionStatus, Vote
from companion.services.moderation import TRANSITIONS

from .conftest import test_config

SEEN: list = []
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

# Kazakh letters, Cyrillic, right-to-left, combining marks, emoji, NUL and surrogate-free edge cases
KAZAKH = "ӘәҒғҚқҢңӨөҰұҮүҺһІі"
texts = st.one_of(st.text(max_size=50), st.text(alphabet=KAZAKH + " ?", max_size=30),
                  st.sampled_from(["", " ", "\x00", "‮rtl", "é", "🙂" * 500, "x" * 5000, "<script>alert(1)</script>",
                                   "'; DROP TABLE question; --", "%(n)s", "{code}"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**63, max_value=2**63), st.floats(), texts)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=8)
FIELDS = ["text", "author_name", "district", "contact", "consent", "language", "client_id", "id", "version",
          "question_id", "up", "reason", "finish_current", "target_id", "category_id", "order", "settings"]
payloads = st.one_of(values, st.dictionaries(st.sampled_from(FIELDS), values, max_size=6))


def assert_consistent() -> None:
    """The invariants a half-written change would break."""
    assert db.session.execute(select(func.count()).where(Question.tracking_code.is_(None))).scalar_one() == 0
    assert db.session.execute(select(func.count()).where(Question.status == QuestionStatus.ON_AIR)).scalar_one() <= 1
    counted = dict(db.session.execute(select(Vote.question_id, func.count()).group_by(Vote.question_id)).all())
    for qid, votes in db.session.execute(select(Question.id, Question.votes)).all():
        assert votes == counted.get(qid, 0)


VIEWER_EVENTS = ["submit_question", "vote", "get_snapshot", "approve"]
STAFF_EVENTS = [*TRANSITIONS, "edit_question", "merge_question", "categorize_question", "reorder_queue",
                "update_settings", "add_phone_question", "get_snapshot", "get_prompter", "no_such_event"]


def test_socket_events_survive_any_payload(app, viewer_socket, staff_socket):
    viewer, mod = viewer_socket(), staff_socket("mod")
    mod.emit("add_phone_question", {"text": "Seed question", "client_id": "fuzz-seed-01"}, namespace="/staff",
             callback=True)

    @FUZZ
    @given(event=st.sampled_from([("/", e) for e in VIEWER_EVENTS] + [("/staff", e) for e in STAFF_EVENTS]),
           data=payloads)
    def check(event, data):
        namespace, name = event
        client = viewer if namespace == "/" else mod
        app.config["EVENTS_PER_SECOND_PER_CONNECTION"] = 10**6  # fuzzing is not a flood
        ack = client.emit(name, data, namespace=namespace, callback=True)
        assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), ack
        if not ack["ok"]:
            assert ack["error"]["code"] and isinstance(ack["error"]["message"], str)
        with app.app_context():
            assert_consistent()
    check()


@pytest.fixture
def api_app(tmp_path, seeded_db):
    """One SQLite app for the API fuzzer."""
    shutil.copy(seeded_db, tmp_path / "test.db")
    return create_app(test_config(tmp_path, QUESTIONS_PER_MINUTE_PER_ADDRESS=10**6))  # fuzzing is not abuse


def test_api_never_answers_with_a_server_error(api_app):
    """Every operation of /api/v1/openapi.json, with cases generated from the document."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", api_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 4

    with api_app.test_client() as client:  # one real question, so tracking codes can hit
        code = client.post("/api/v1/broadcasts/demo/questions", json={"text": "seed"}).json["tracking_code"]

    def existing(case):
        """The same generated case aimed at the demo broadcast or the seeded code."""
        if case.path_parameters:
            case.path_parameters = {k: {"slug": "demo", "service_code": "1"}.get(k, code) for k in case.path_parameters}
        return case

    for operation in operations:
        strategy = operation.as_strategy()

        @FUZZ
        @given(case=st.one_of(strategy, strategy.map(existing)))
        def check(case):
            response = case.call()
            SEEN.append((case.path, response.status_code))
            assert response.status_code < 500, (case.path, response.status_code, response.text)
            if response.status_code >= 400 and case.path.endswith(".xml"):
                assert ET.fromstring(response.content).find("error/description") is not None  # <errors><error>
            elif response.status_code >= 400 and case.path.startswith("/open311/"):
                assert "description" in response.json()[0]  # GeoReport v2 errors: [{code, description}]
            elif response.status_code >= 400:
                assert "error" in response.json()
            with api_app.app_context():
                assert_consistent()
        check()
    statuses = {status for _path, status in SEEN}
    assert {200, 201, 400, 404} <= statuses  # the fuzzer reached real handling, not only 404s
