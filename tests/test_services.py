"""Service rules without HTTP: intake, the question's life, merge, reorder, versions."""
from __future__ import annotations

import gc
import re
import weakref

import pytest
from sqlalchemy import func, select, text

from companion.extensions import db
from companion.models import AuditEvent, Question, QuestionStatus, Vote
from companion.services import intake, moderation
from companion.errors import (ConfirmationRequired, Conflict, InvalidTransition, NotFound, QuestionsClosed, StaleVersion,
                                       ValidationError)

S = QuestionStatus
pytestmark = pytest.mark.usefixtures("ctx")


def demo():
    return intake.get_broadcast("demo")


def submit(text="How will the bus routes change?", viewer_token=None, **fields):
    fields.setdefault("client_id", f"client-{abs(hash(text)) % 10**12:012d}")
    question, _change = intake.submit_question(demo(), {"text": text, **fields}, viewer_token=viewer_token)
    return question


def at_status(status: S, text="A question in some status") -> Question:
    """A question moved to `status` through the real transitions."""
    q = submit(text)
    path = {S.PENDING: [], S.APPROVED: ["approve"], S.QUEUED: ["queue"], S.ON_AIR: ["approve", "send_to_air"],
            S.ANSWERED: ["approve", "send_to_air", "mark_answered"], S.DEFERRED: ["approve", "defer"],
            S.REJECTED: ["reject"]}[status]
    for action in path:
        moderation.transition(demo(), q.id, action, actor=None, ground="spam")
    assert q.status == status
    return q


def count(model=Question) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_submitted_question_is_pending_with_tracking_code():
    q = submit()
    assert q.status == S.PENDING
    assert re.fullmatch(r"SRK-\d{4}-\d{6}", q.tracking_code)
    assert q.tracking_code.endswith(f"{q.id:06d}")


def test_without_pre_moderation_question_is_approved_at_once():
    moderation.update_settings(demo(), {"pre_moderation": False}, actor=None)
    assert submit().status == S.APPROVED


def test_retried_submit_creates_one_question():
    first = submit(client_id="retry-client-1")
    again, change = intake.submit_question(demo(), {"text": "different text", "client_id": "retry-client-1"})
    assert change is None
    assert (again.id, again.tracking_code) == (first.id, first.tracking_code)
    assert count() == 1


def prepared(text: str, client_id: str, **options) -> intake.Submission:
    return intake.prepare_submission(demo(), {"text": text, "client_id": client_id}, **options)


def test_stored_questions_and_their_appeals_are_freed_without_the_cycle_collector():
    # The writer keeps its objects' values after the commit (nothing expires them), so a question
    # linked to its appeal both ways was a reference cycle per question: only the cyclic collector
    # freed them, and at hundreds of questions a second its pauses reached tens of milliseconds.
    from companion.realtime import writer
    jobs = [writer._Job(prepared("Freed at once", "freed-0001")), writer._Job(prepared("Freed too", "freed-0002"))]
    gc.disable()
    try:
        writer.write_batch(jobs)
        stored = [job.outcome[0] for job in jobs]
        assert all(question.appeal.tracking_code == question.tracking_code for question in stored)
        alive = [weakref.ref(obj) for question in stored for obj in (question, question.appeal)]
        del jobs, stored
        db.session.remove()
        assert [ref() for ref in alive] == [None] * 4
    finally:
        gc.enable()


def test_a_batch_is_stored_in_one_transaction_with_one_version_step():
    earlier = submit("Asked before the batch", client_id="batch-earlier")
    version = demo().version
    batch = [prepared("First of the batch", "batch-0001"), prepared("Retry of an earlier one", "batch-earlier"),
             prepared("Second of the batch", "batch-0002"), prepared("Repeated within the batch", "batch-0001")]
    outcomes, changes = intake.store_submissions(batch)
    (first, created0), (again, created1), (second, created2), (repeat, created3) = outcomes
    assert (created0, created1, created2, created3) == (True, False, True, False)
    assert again.id == earlier.id and repeat.id == first.id
    assert first.text == "First of the batch"  # the first copy of a repeated client_id wins
    assert len(changes) == 1 and [q.id for q in changes[0].questions] == [first.id, second.id]
    db.session.expire_all()
    assert demo().version == version + 1  # one desk event for the batch
    assert count() == 3
    codes = {q.tracking_code for q in (earlier, first, second)}
    assert len(codes) == 3 and all(code.startswith("SRK-") for code in codes)
    for q in (first, second):  # each has its own registered appeal under the same number
        assert q.appeal.tracking_code == q.tracking_code and q.appeal.status == "registered"
        assert [e.action for e in q.appeal.events] == ["register"]


def test_rate_limits_count_the_batch_own_questions(app):
    app.config["QUESTIONS_PER_MINUTE_PER_VIEWER"] = 2
    submit("One already this minute", client_id="limit-0000", viewer_token="viewer-a")
    batch = [prepared(f"Question {i}", f"limit-{i:04d}", viewer_token="viewer-a" if i < 3 else "viewer-b")
             for i in range(1, 5)]
    outcomes, _ = intake.store_submissions(batch)
    assert [type(o).__name__ if not isinstance(o, tuple) else o[1] for o in outcomes] == [
        True, "RateLimited", True, True]  # viewer-a: one earlier + one in the batch; viewer-b: two
    assert count() == 4
    assert intake.find_by_client_id(demo(), "v:viewer-a", "limit-0002") is None  # the refused one is not stored


def test_a_batch_of_retries_only_stores_nothing():
    q = submit("Only once", client_id="only-once-1")
    version = demo().version
    outcomes, changes = intake.store_submissions([prepared("Only once", "only-once-1")] * 2)
    assert [(o[0].id, o[1]) for o in outcomes] == [(q.id, False)] * 2 and changes == []
    assert demo().version == version and count() == 1


def test_a_batch_reads_open_and_pre_moderation_when_it_is_stored():
    """A submission checked while questions were open is refused if they closed before its batch is
    stored; pre-moderation is the setting at store time (viewers' events may use a recent copy)."""
    checked_open = prepared("Checked while open", "closing-0001")
    checked_premod = prepared("Checked under pre-moderation", "premod-0001")
    moderation.update_settings(demo(), {"pre_moderation": False}, actor=None)
    (stored, created), = intake.store_submissions([checked_premod])[0]
    assert created and stored.status == S.APPROVED
    moderation.update_settings(demo(), {"questions_open": False}, actor=None)
    (refused,), changes = intake.store_submissions([checked_open])
    assert refused.code == "questions_closed" and changes == []
    assert intake.find_by_client_id(demo(), "", "closing-0001") is None


def test_a_recent_broadcast_copy_saves_the_query_until_a_change_or_a_second(app, monkeypatch):
    from companion.services import recent
    recent.forget()
    reads = []

    def read(slug):
        reads.append(slug)
        return intake.get_broadcast(slug)

    first = recent.recent_broadcast("demo", read)
    db.session.remove()  # the next event has its own session
    again = recent.recent_broadcast("demo", read)
    assert reads == ["demo"] and again.questions_open and again.id == first.id
    assert again in db.session  # this session's own instance, usable as a loaded row
    db.session.remove()
    moderation.update_settings(demo(), {"questions_open": False}, actor=None)  # a change in this process
    assert not recent.recent_broadcast("demo", read).questions_open and len(reads) == 2
    monkeypatch.setattr(recent, "RECENT_SECONDS", 0.0)
    recent.recent_broadcast("demo", read)
    recent.recent_broadcast("demo", read)
    assert len(reads) == 4  # no copy is kept past its age


def test_tracking_code_format_is_configurable(app):
    app.config.update(TRACKING_FORMAT="{prefix}/{number}", TRACKING_PREFIX="ALM")
    assert submit().tracking_code == "ALM/1"


@pytest.mark.parametrize("data, field", [
    ({"text": ""}, "text"),
    ({"text": "   \n\t "}, "text"),
    ({"text": "x" * 1001}, "text"),
    ({"text": "ok", "contact": "12345", "consent": True}, "contact"),
    ({"text": "ok", "contact": "not-an@email", "consent": True}, "contact"),
    ({"text": "ok", "contact": "+7 701 234 5678"}, "consent"),
    ({"text": "ok", "author_name": "n" * 81}, "author_name"),
    ({"text": "ok", "language": "de"}, "language"),
])
def test_bad_input_is_refused_with_the_field_named(data, field):
    with pytest.raises(ValidationError) as err:
        intake.submit_question(demo(), {"client_id": "bad-input-1", **data})
    assert field in err.value.fields
    assert count() == 0


def test_phone_is_stored_in_international_format():
    q = submit(contact="8 701 234 56 78", consent=True)
    assert q.contact == "+77012345678"
    assert q.contact_consent is True


def test_name_is_required_when_anonymous_questions_are_off():
    moderation.update_settings(demo(), {"anonymous_allowed": False}, actor=None)
    with pytest.raises(ValidationError) as err:
        submit()
    assert "author_name" in err.value.fields
    assert submit(author_name="Aigerim", consent=True).author_name == "Aigerim"


def test_closed_broadcast_refuses_new_questions_but_returns_earlier_receipts():
    q = submit(client_id="before-close-1")
    moderation.update_settings(demo(), {"questions_open": False}, actor=None)
    with pytest.raises(QuestionsClosed):
        submit("new one", client_id="after-close-1")
    again, _ = intake.submit_question(demo(), {"text": "x", "client_id": "before-close-1"})
    assert again.tracking_code == q.tracking_code


def test_unknown_broadcast_is_not_found():
    with pytest.raises(NotFound):
        intake.get_broadcast("no-such-broadcast")


ALL = [S.PENDING, S.APPROVED, S.QUEUED, S.ON_AIR, S.ANSWERED, S.DEFERRED, S.REJECTED]


@pytest.mark.parametrize("action", list(moderation.TRANSITIONS))
@pytest.mark.parametrize("start", ALL)
def test_transition_table_is_enforced(action, start):
    q = at_status(start)
    allowed, target, event = moderation.TRANSITIONS[action]
    # the desk is sent exactly the actions the table allows from this status
    assert (action in moderation.allowed_actions(q)) == (start in allowed)
    if action in moderation.CONFIRM and moderation.CONFIRM[action](q):
        assert moderation.confirm_actions(q) == [action]
        with pytest.raises(ConfirmationRequired):  # nobody approved it: not on air without a confirmation
            moderation.transition(demo(), q.id, action, actor=None)
        db.session.refresh(q)
        assert q.status == start and q.aired_at is None
        change = moderation.transition(demo(), q.id, action, actor=None, confirmed=True)
        assert q.status == target and change.event == event
    elif start in allowed:
        change = moderation.transition(demo(), q.id, action, actor=None, ground="spam")
        assert q.status == target
        assert change.event == event
    else:
        version = q.version
        with pytest.raises(InvalidTransition):
            moderation.transition(demo(), q.id, action, actor=None, ground="spam")
        db.session.refresh(q)
        assert (q.status, q.version) == (start, version)


def test_a_question_let_through_with_pre_moderation_off_needs_confirmation_until_someone_acts_on_it():
    broadcast = demo()
    moderation.update_settings(broadcast, {"pre_moderation": False}, actor=None)
    unread, _ = intake.submit_question(broadcast, {"text": "Нигде не написано, когда откроют каток?"})
    assert unread.status == S.APPROVED and moderation.confirm_actions(unread) == ["send_to_air"]
    with pytest.raises(ConfirmationRequired):
        moderation.transition(broadcast, unread.id, "send_to_air", actor=None)
    read, _ = intake.submit_question(broadcast, {"text": "Когда откроют каток в парке?"})
    moderation.flag_follow_up(broadcast, read.id, True, actor=None)  # a moderator acted on it: read
    assert moderation.confirm_actions(read) == []
    moderation.transition(broadcast, read.id, "send_to_air", actor=None)
    assert read.status == S.ON_AIR
    caller, _ = intake.submit_question(broadcast, {"text": "Звонок: когда починят свет?"}, channel="phone", approved=True)
    assert moderation.confirm_actions(caller) == []  # typed in by a moderator from a phone call


def test_approving_a_rejected_question_is_refused():
    q = at_status(S.REJECTED)
    with pytest.raises(InvalidTransition) as err:
        moderation.transition(demo(), q.id, "approve", actor=None)
    assert "rejected" in err.value.message


@pytest.mark.parametrize("ground", [None, "", "  ", "offtopic", "Spam", "SPAM", 3, ["spam"], "duplicate"])
def test_rejecting_needs_a_known_ground(ground):
    q = submit()
    with pytest.raises(ValidationError) as refused:
        moderation.transition(demo(), q.id, "reject", actor=None, ground=ground, note="Реклама")
    assert "ground" in refused.value.fields
    if ground == "duplicate":
        assert "merged" in str(refused.value.fields["ground"])
    db.session.refresh(q)
    assert (q.status, q.reject_ground, q.reject_reason) == (S.PENDING, "", "")
    assert q.appeal.status == "registered"


def test_rejecting_keeps_the_ground_and_the_optional_note():
    q, other = submit(), submit("Another question")
    moderation.transition(demo(), q.id, "reject", actor=None, ground="spam", note="  Реклама окон  ")
    assert (q.status, q.reject_ground, q.reject_reason) == (S.REJECTED, "spam", "Реклама окон")
    moderation.transition(demo(), other.id, "reject", actor=None, ground="abuse")
    assert (other.reject_ground, other.reject_reason) == ("abuse", "")


def test_only_one_question_is_on_air():
    first = at_status(S.ON_AIR, "first")
    second = at_status(S.QUEUED, "second")
    with pytest.raises(Conflict) as err:
        moderation.transition(demo(), second.id, "send_to_air", actor=None)
    assert err.value.detail["on_air_id"] == first.id
    moderation.transition(demo(), second.id, "send_to_air", actor=None, finish_current="mark_answered")
    assert (first.status, second.status) == (S.ANSWERED, S.ON_AIR)
    assert first.answered_at is not None and second.aired_at is not None
    on_air = db.session.execute(select(func.count()).where(Question.status == S.ON_AIR)).scalar_one()
    assert on_air == 1


def test_stale_version_is_refused():
    q = submit()
    seen = q.version
    moderation.transition(demo(), q.id, "approve", actor=None, version=seen)
    with pytest.raises(StaleVersion):
        moderation.transition(demo(), q.id, "queue", actor=None, version=seen)
    assert q.status == S.APPROVED


def test_edit_keeps_the_original_text():
    q = submit("how many buses wil go")
    moderation.edit_question(demo(), q.id, "How many buses will go?", actor=None)
    moderation.edit_question(demo(), q.id, "How many buses will run?", actor=None)
    assert q.text == "How many buses will run?"
    assert q.original_text == "how many buses wil go"
    with pytest.raises(ValidationError):
        moderation.edit_question(demo(), q.id, "   ", actor=None)


def test_merge_carries_votes_and_askers():
    moderation.update_settings(demo(), {"pre_moderation": False}, actor=None)
    target, source = submit("Fix the road on Abay street"), submit("Abay street road is broken")
    for voter in ("v1", "v2"):
        intake.cast_vote(demo(), target.id, voter)
    for voter in ("v2", "v3", "v4"):
        intake.cast_vote(demo(), source.id, voter)
    moderation.merge_question(demo(), source.id, target.id, actor=None)
    assert source.status == S.MERGED and source.merged_into_id == target.id
    assert target.votes == 4  # v1..v4, the shared voter counted once
    assert target.asker_count == 2
    # the shared voter's vote for the source stays with it, for an unmerge to find again
    assert db.session.execute(select(Vote.voter).where(Vote.question_id == source.id)).scalars().all() == ["v2"]
    assert source.tracking_code != target.tracking_code  # each asker keeps a code pointing to the merged appeal


def test_merge_repoints_earlier_merges_and_refuses_self():
    a, b, c = submit("a question"), submit("b question"), submit("c question")
    moderation.merge_question(demo(), a.id, b.id, actor=None)
    moderation.merge_question(demo(), b.id, c.id, actor=None)
    db.session.refresh(a)
    assert a.merged_into_id == c.id and c.asker_count == 3
    with pytest.raises(ValidationError):
        moderation.merge_question(demo(), c.id, c.id, actor=None)
    with pytest.raises(InvalidTransition):
        moderation.merge_question(demo(), a.id, c.id, actor=None)


def test_reorder_queue_and_refuse_a_stale_order():
    q1, q2, q3 = (at_status(S.QUEUED, f"queued {i}") for i in range(3))
    moderation.reorder_queue(demo(), [q3.id, q1.id, q2.id], actor=None)
    assert [q.id for q in moderation.queued_questions(demo())] == [q3.id, q1.id, q2.id]
    with pytest.raises(StaleVersion):
        moderation.reorder_queue(demo(), [q1.id, q2.id], actor=None)


def test_votes_count_once_per_viewer_and_can_be_withdrawn():
    q = at_status(S.APPROVED)
    for _ in range(3):
        intake.cast_vote(demo(), q.id, "viewer-a")
    intake.cast_vote(demo(), q.id, "viewer-b")
    assert q.votes == 2
    intake.cast_vote(demo(), q.id, "viewer-a", up=False)
    intake.cast_vote(demo(), q.id, "viewer-a", up=False)
    assert q.votes == 1


def test_a_batch_of_votes_counts_each_viewer_once_in_one_transaction(app):
    app.config["VOTES_PER_MINUTE_PER_VIEWER"] = 3
    q, other = at_status(S.APPROVED, "voted on"), at_status(S.APPROVED, "also voted on")
    hidden = submit("still pending")
    intake.cast_vote(demo(), q.id, "viewer-a")
    b = demo()
    ballots = [intake.Ballot(b, q.id, "viewer-a"), intake.Ballot(b, q.id, "viewer-b"), intake.Ballot(b, q.id, "viewer-b"),
               intake.Ballot(b, other.id, "viewer-a"), intake.Ballot(b, other.id, "viewer-a"),  # a's 3rd and 4th vote
               intake.Ballot(b, hidden.id, "viewer-c"), intake.Ballot(b, "7", "viewer-c"),
               intake.Ballot(b, True, "viewer-c"), intake.Ballot(b, q.id, "viewer-a", up=False)]
    outcomes, changed = intake.store_votes(ballots)
    assert [o.code if isinstance(o, Exception) else o.id for o in outcomes] == [
        q.id, q.id, q.id, other.id, "rate_limited", "not_found", "not_found", "not_found", q.id]
    assert {c.id: c.votes for c in changed} == {other.id: 1}  # q: a withdrawn, b once: still 1, nothing to send
    db.session.expire_all()
    assert (db.session.get(Question, q.id).votes, db.session.get(Question, other.id).votes) == (1, 1)
    assert db.session.execute(select(func.count()).select_from(Vote)).scalar_one() == 2


def test_a_failed_batch_keeps_answers_already_given_and_tells_the_rest_to_retry(app):
    """The writer stores questions, then votes; when the votes' write fails, the stored questions
    keep their receipts and a refusal keeps its own code: only the unanswered items get unavailable."""
    from companion.realtime import writer
    app.config["QUESTIONS_PER_MINUTE_PER_VIEWER"] = 1
    voted_on = at_status(S.APPROVED, "to vote on")
    jobs = [writer._Job(prepared("Stored", "fail-0001", viewer_token="viewer-a")),
            writer._Job(prepared("Over the limit", "fail-0002", viewer_token="viewer-a")),
            writer._Job(intake.Ballot(demo(), voted_on.id, "viewer-b"))]
    db.session.execute(text("DROP TABLE vote"))  # a real failure of the votes' write on this test's own file
    db.session.commit()
    writer.write_batch(jobs)
    stored, refused, ballot = (job.outcome for job in jobs)
    assert stored[1] is True and intake.find_by_client_id(demo(), "v:viewer-a", "fail-0001").id == stored[0].id
    assert refused.code == "rate_limited"
    assert ballot.code == "unavailable" and ballot.to_dict()["retryable"]
    assert all(job.done.is_set() for job in jobs)


def test_hidden_questions_cannot_be_voted():
    with pytest.raises(NotFound):
        intake.cast_vote(demo(), submit().id, "viewer-a")  # still pending


def test_public_version_moves_only_for_what_the_audience_sees():
    b = demo()
    v, pv = b.version, b.public_version
    q = submit()  # pending: staff only
    assert (b.version, b.public_version) == (v + 1, pv)
    moderation.transition(b, q.id, "approve", actor=None)
    assert (b.version, b.public_version) == (v + 2, pv + 1)


def test_moderation_actions_are_audited(app):
    from companion.models import User
    mod = db.session.execute(select(User).where(User.username == "mod")).scalar_one()
    q = submit()
    moderation.transition(demo(), q.id, "reject", actor=mod, ground="abuse", note="Мат в тексте")
    event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "reject")).scalar_one()
    assert (event.actor, event.question_id, event.detail) == ("mod", q.id, {"ground": "abuse", "note": "Мат в тексте"})


@pytest.mark.parametrize("text, language", [
    ("Сәлеметсіз бе! Аулада балалар алаңы қашан салынады?", "kk"),
    ("Когда отремонтируют дорогу на улице Абая?", "ru"),
    ("When will the park on Abay street open?", "en"),
    ("Қашан?", "kk"),
    ("?!", None),
])
def test_question_language_is_read_from_its_letters(text, language):
    assert intake.detect_language(text) == language


def test_detected_language_is_stored_unless_the_sender_chose_one():
    assert submit("Аулада балалар алаңы қашан салынады?").language == "kk"
    assert submit("Когда откроют парк?").language == "ru"
    assert submit("Когда откроют каток?", language="en").language == "en"


def test_the_allowed_actions_follow_the_edit_and_merge_tables():
    for status in sorted(ALL, key=lambda s: s == S.ON_AIR):  # the one on air last: the others pass through air
        q = at_status(status, f"A question that is {status}")
        actions = moderation.allowed_actions(q)
        assert ("edit" in actions) == (status in moderation.EDITABLE)
        assert ("merge" in actions) == (status in moderation.MERGEABLE_SOURCE)
        assert ("categorize" in actions) == (status not in (S.MERGED, S.REJECTED))
    deferred = at_status(S.DEFERRED, "Deferred questions can be edited")
    assert "edit" in moderation.allowed_actions(deferred)  # the desk's old copy of the table had no Edit here


def test_taking_the_question_off_air_puts_it_first_in_the_queue_and_leaves_its_appeal():
    first, second = at_status(S.QUEUED, "first in the queue"), at_status(S.QUEUED, "second in the queue")
    on_air = at_status(S.ON_AIR, "on air now")
    appeal_status = on_air.appeal.status
    moderation.transition(demo(), on_air.id, "take_off_air", actor=None)
    assert [q.id for q in moderation.queued_questions(demo())] == [on_air.id, first.id, second.id]
    assert on_air.appeal.status == appeal_status and on_air.aired_at is not None


def test_reopening_an_answer_given_by_mistake_opens_its_appeal_again():
    q = at_status(S.QUEUED, "answered by mistake")
    before = q.appeal.status
    moderation.transition(demo(), q.id, "send_to_air", actor=None)
    moderation.transition(demo(), q.id, "mark_answered", actor=None)
    assert q.appeal.status == "closed" and q.appeal.answered_at is not None
    moderation.transition(demo(), q.id, "reopen", actor=None)
    assert q.status == S.QUEUED and q.answered_at is None
    assert q.appeal.status == before and q.appeal.closed_at is None and q.appeal.is_open
    assert q.appeal.clock_running is q.appeal.statutory is False  # asked without a name: a question only
    assert q.appeal.events[-1].action == "reopen"


def test_sending_another_question_to_air_can_put_the_current_one_back_in_the_queue():
    current, nxt = at_status(S.ON_AIR, "current on air"), at_status(S.QUEUED, "next")
    with pytest.raises(Conflict):
        moderation.transition(demo(), nxt.id, "send_to_air", actor=None, finish_current="delete")
    moderation.transition(demo(), nxt.id, "send_to_air", actor=None, finish_current="take_off_air")
    assert (current.status, nxt.status) == (S.QUEUED, S.ON_AIR)


def test_a_group_merge_takes_every_source_it_can_and_skips_the_rest():
    target = submit("Когда дадут отопление на Кенесары 40?")
    sources = [submit(f"Кенесары 40 нет отопления, {i}") for i in range(3)]
    stale = sources[1]
    moderation.edit_question(demo(), stale.id, "Изменено на другом экране", actor=None)  # its version moves on
    rejected = at_status(S.REJECTED, "spam in the group")
    change, skipped = moderation.merge_group(
        demo(), target.id, [{"id": q.id, "version": q.version - (q is stale)} for q in sources]
        + [{"id": rejected.id, "version": rejected.version}, {"id": 2 ** 70}, {"id": "abc"}, "junk"], actor=None)
    assert sorted(skipped, key=str) == sorted([stale.id, rejected.id, 2 ** 70, "abc", None], key=str)
    assert target.asker_count == 3 and {q.status for q in sources if q is not stale} == {S.MERGED}
    assert stale.status == S.PENDING and len(change.questions) == 3
    with pytest.raises(ValidationError):
        moderation.merge_group(demo(), target.id, [], actor=None)


def voters(question) -> set[str]:
    return set(db.session.execute(select(Vote.voter).where(Vote.question_id == question.id)).scalars())


def test_unmerge_gives_back_the_status_votes_and_askers_the_merge_carried():
    moderation.update_settings(demo(), {"pre_moderation": False}, actor=None)
    target, source = submit("Fix the road on Abay street"), submit("Abay street road is broken")
    earlier = submit("The road on Abay has holes")
    moderation.transition(demo(), source.id, "queue", actor=None)
    for voter in ("t1", "both"):
        intake.cast_vote(demo(), target.id, voter)
    for voter in ("s1", "s2", "both"):
        intake.cast_vote(demo(), source.id, voter)
    moderation.merge_question(demo(), earlier.id, source.id, actor=None)  # a chain: earlier -> source -> target
    moderation.merge_question(demo(), source.id, target.id, actor=None)
    db.session.refresh(earlier)
    assert (target.votes, target.asker_count, earlier.merged_into_id) == (4, 3, target.id)
    versions = (source.version, target.version, demo().version)

    change = moderation.unmerge_question(demo(), source.id, actor=None, version=source.version)
    db.session.refresh(earlier)
    assert change.event == "question_unmerged" and {q.id for q in change.questions} == {source.id, target.id}
    assert source.status == S.QUEUED and source.merged_into_id is None and source.position is not None
    assert (source.votes, source.asker_count, voters(source)) == (3, 2, {"s1", "s2", "both"})
    assert (target.votes, target.asker_count, voters(target)) == (2, 1, {"t1", "both"})
    assert earlier.merged_into_id == source.id  # what had been merged into it comes back with it
    assert (source.version, target.version, demo().version) == (versions[0] + 1, versions[1] + 1, versions[2] + 1)
    assert db.session.execute(select(AuditEvent.action).order_by(AuditEvent.id.desc()).limit(1)).scalar() == "unmerge"
    # and it can be merged, and unmerged, again
    moderation.merge_question(demo(), source.id, target.id, actor=None)
    assert (target.votes, target.asker_count) == (4, 3)
    moderation.unmerge_question(demo(), source.id, actor=None)
    assert (target.votes, target.asker_count, source.votes, source.asker_count) == (2, 1, 3, 2)


def test_unmerge_is_refused_when_it_would_mean_nothing_or_the_screen_is_stale():
    target, source, plain = submit("Bus 12 is always late"), submit("Why is bus 12 late?"), submit("Snow in the yard")
    with pytest.raises(InvalidTransition):
        moderation.unmerge_question(demo(), plain.id, actor=None)  # not merged
    moderation.merge_question(demo(), source.id, target.id, actor=None)
    with pytest.raises(StaleVersion):
        moderation.unmerge_question(demo(), source.id, actor=None, version=source.version - 1)
    with pytest.raises(NotFound):
        moderation.unmerge_question(demo(), 2 ** 62, actor=None)
    moderation.transition(demo(), target.id, "send_to_air", actor=None, confirmed=True)
    moderation.transition(demo(), target.id, "mark_answered", actor=None)
    with pytest.raises(InvalidTransition, match="answered on air"):
        moderation.unmerge_question(demo(), source.id, actor=None)
    assert source.status == S.MERGED and source.merged_into_id == target.id
    moderation.transition(demo(), target.id, "reopen", actor=None)  # the mistake undone: now the merge can be too
    moderation.unmerge_question(demo(), source.id, actor=None)
    assert source.status == S.PENDING and target.asker_count == 1
    moderation.merge_question(demo(), source.id, target.id, actor=None)
    source.appeal.status = "forwarded"  # the back office forwarded its appeal meanwhile
    source.appeal.clock_running = False
    db.session.commit()
    with pytest.raises(InvalidTransition, match="forwarded"):
        moderation.unmerge_question(demo(), source.id, actor=None)


def test_only_merged_questions_offer_unmerge():
    q = submit("A question")
    assert "unmerge" not in moderation.allowed_actions(q)
    moderation.merge_question(demo(), q.id, submit("Another question").id, actor=None)
    assert "unmerge" in moderation.allowed_actions(q) and "merge" not in moderation.allowed_actions(q)


def statements_of(call) -> int:
    """How many SQL statements `call` sends to the database."""
    from sqlalchemy import event
    seen = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return len(seen)


def test_a_group_merge_runs_the_same_statements_for_5_or_60_sources():
    moderation.update_settings(demo(), {"pre_moderation": False}, actor=None)
    counts = []
    for size in (5, 60):
        target = submit(f"Heating in block {size}")
        sources = [submit(f"No heating in block {size}, flat {i}") for i in range(size)]
        for i, q in enumerate(sources[:3]):
            intake.cast_vote(demo(), q.id, f"voter-{size}-{i}")
            intake.cast_vote(demo(), q.id, f"voter-{size}-shared")
        db.session.expire_all()  # as in a fresh socket event
        items = [{"id": q.id, "version": q.version} for q in sources]
        counts.append(statements_of(lambda: moderation.merge_group(demo(), target.id, items, actor=None)))
        assert target.asker_count == size + 1 and target.votes == 4
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("bad", ["abc", None, "²", 2 ** 63, -1, 0, 1.5, [], {}])
def test_odd_question_ids_and_versions_are_refused_cleanly(bad):
    q = submit("A question")
    with pytest.raises((NotFound, ValidationError)):
        moderation.get_question(demo(), bad)
    if bad is not None:
        with pytest.raises((ValidationError, StaleVersion)):
            moderation.get_question(demo(), q.id, version=bad)


def test_the_switch_on_air_names_the_question_it_decided_about():
    """Found by a review: a stale "what happened to the one on air?" dialog closed another question."""
    first, second, nxt = at_status(S.QUEUED, "first"), at_status(S.QUEUED, "second"), at_status(S.QUEUED, "next")
    moderation.transition(demo(), first.id, "send_to_air", actor=None)
    moderation.transition(demo(), second.id, "send_to_air", actor=None, finish_current="take_off_air",
                          current_id=first.id)  # another screen switched meanwhile
    with pytest.raises(StaleVersion):
        moderation.transition(demo(), nxt.id, "send_to_air", actor=None, finish_current="mark_answered",
                              current_id=first.id)
    db.session.rollback()
    assert (second.status, nxt.status) == (S.ON_AIR, S.QUEUED) and second.appeal.status == "registered"


@pytest.mark.parametrize("bad", ["\ud800", "a\x00b", "\x1b[31mred", "\u202eevil", "\x85"])
def test_text_no_database_can_store_is_refused_by_field_before_it_reaches_a_batch(bad):
    from companion.services import backstage
    with pytest.raises(ValidationError) as refused:
        intake.validate_submission(demo(), {"text": f"Question {bad}", "client_id": "x" * 32}, "ru")
    assert "text" in refused.value.fields
    with pytest.raises(ValidationError) as refused:
        intake.validate_submission(demo(), {"text": "Fine", "author_name": bad}, "ru")
    assert "author_name" in refused.value.fields
    q = submit("A question to edit")
    with pytest.raises(ValidationError):
        moderation.edit_question(demo(), q.id, f"New {bad}", actor=None)
    with pytest.raises(ValidationError):
        moderation.transition(demo(), q.id, "reject", actor=None, ground="spam", note=f"spam {bad}")
    with pytest.raises(ValidationError):
        backstage.send_message(demo(), f"wrap up {bad}", actor=None)
    assert intake.validate_submission(demo(), {"text": "Line one\nline two\ttab"}, "ru")["text"] == "Line one\nline two\ttab"


@pytest.mark.parametrize("bad", [12345, ["x"], {"a": 1}])
def test_edit_text_and_reject_reason_of_the_wrong_type_are_refused(bad):
    q = submit("Typed wrongly")
    with pytest.raises(ValidationError):
        moderation.edit_question(demo(), q.id, bad, actor=None)
    with pytest.raises(ValidationError):
        moderation.transition(demo(), q.id, "reject", actor=None, ground="spam", note=bad)
