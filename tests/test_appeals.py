"""The appeal's life without HTTP: transition table, statutory clock, routing, live-desk hooks."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from flask_babel import format_date
from sqlalchemy import func, select

from companion import permissions
from companion.extensions import db
from companion.models import Appeal, AppealEvent, AppealStatus, Category, Department, QuestionStatus, User
from companion.services import appeals, deadlines, intake, moderation
from companion.services.deadlines import DAY_OFF, WORKING_DAY, WorkCalendar
from companion.errors import Forbidden, InvalidTransition, NotFound, StaleVersion, ValidationError

from .test_services import demo, submit

A = AppealStatus
pytestmark = pytest.mark.usefixtures("ctx")


def user(name: str) -> User:
    return db.session.execute(select(User).where(User.username == name)).scalar_one()


# a name and a contact make a question an appeal under the statutory clock (appeals.is_statutory)
NAMED = {"author_name": "Aigerim", "contact": "+77011234567", "consent": True}


def new_appeal(text="How will the bus routes change?") -> Appeal:
    return submit(text, **NAMED).appeal


# --- the statutory clock -------------------------------------------------------------------

def test_due_date_skips_nauryz():
    # Thursday 19 March 2026: Nauryz holidays 21-25 March (23, 24, 25 are weekdays off)
    assert deadlines.WorkCalendar().add_working_days(date(2026, 3, 19), 15) == date(2026, 4, 14)


def test_due_date_skips_new_year_and_orthodox_christmas():
    # Monday 29 Dec 2025: 1-2 January and 7 January 2026 are days off
    assert deadlines.WorkCalendar().add_working_days(date(2025, 12, 29), 15) == date(2026, 1, 22)


def test_a_transferred_working_day_counts_and_an_extra_day_off_does_not():
    saturday, monday = date(2026, 1, 10), date(2026, 1, 12)
    assert WorkCalendar(working_days=[saturday]).add_working_days(date(2025, 12, 29), 15) == date(2026, 1, 21)
    assert WorkCalendar(days_off=[monday]).add_working_days(date(2025, 12, 29), 15) == date(2026, 1, 23)


def test_the_calendar_table_moves_the_due_date_of_new_appeals():
    baseline = deadlines.answer_due(date(2025, 12, 29), deadlines.office_calendar())
    deadlines.set_calendar_day(date(2026, 1, 10), WORKING_DAY, "Transferred from 2 January")
    assert deadlines.answer_due(date(2025, 12, 29), deadlines.office_calendar()) == baseline - timedelta(days=1)
    deadlines.set_calendar_day(date(2026, 1, 10), None)
    deadlines.set_calendar_day(date(2026, 1, 12), DAY_OFF, "Extra day off")
    assert deadlines.answer_due(date(2025, 12, 29), deadlines.office_calendar()) == date(2026, 1, 23)
    with pytest.raises(ValidationError):
        deadlines.set_calendar_day(date(2026, 1, 13), "holiday")


def test_a_calendar_correction_applies_to_the_next_registered_question_at_once():
    """The writer keeps the office calendar for up to a second (services.recent); a correction made
    in this process drops the copy, so the very next appeal is due by the corrected calendar."""
    first = submit("Registered before the correction").appeal
    received = deadlines.local_date(first.received_at)
    calendar = deadlines.office_calendar()
    next_working = calendar.add_working_days(received, 1)
    deadlines.set_calendar_day(next_working, DAY_OFF, "Extra day off")
    second = submit("Registered after the correction").appeal
    assert deadlines.local_date(second.received_at) == received
    assert second.due_date == calendar.add_working_days(received, 16) != first.due_date


def test_receipt_day_is_the_office_local_date():
    # 20:00 UTC on 19 March is 01:00 on 20 March in Almaty
    assert deadlines.local_date(datetime(2026, 3, 19, 20, 0, tzinfo=timezone.utc)) == date(2026, 3, 20)


def test_a_submitted_question_registers_an_appeal_with_the_same_number_and_deadlines():
    question = submit()
    appeal = question.appeal
    assert appeal.tracking_code == question.tracking_code
    assert appeal.status == A.REGISTERED and appeal.text == question.text
    received = deadlines.local_date(appeal.received_at)
    calendar = deadlines.office_calendar()
    assert appeal.due_date == calendar.add_working_days(received, 15) == appeal.original_due_date
    assert appeal.forward_due_date == calendar.add_working_days(received, 3)
    assert [e.action for e in appeal.events] == ["register"]


def test_retried_submit_creates_one_appeal():
    first = submit(client_id="retry-client-1")
    intake.submit_question(demo(), {"text": "again", "client_id": "retry-client-1"})
    assert db.session.execute(select(func.count()).select_from(Appeal)).scalar_one() == 1
    assert first.appeal.tracking_code == first.tracking_code


# --- the transition table ------------------------------------------------------------------

def _do(appeal: Appeal, action: str, officer: User):
    if action == "assign":
        return appeals.assign(appeal, 1, actor=officer)
    if action == "start":
        return appeals.start(appeal, actor=officer)
    if action == "answer":
        return appeals.answer(appeal, "The shelter will be installed in May.", actor=officer)
    if action == "extend":
        return appeals.extend(appeal, appeal.due_date + timedelta(days=7), "Needs a site survey", actor=officer)
    if action == "forward":
        return appeals.forward(appeal, "Regional roads administration", actor=officer)
    if action == "leave":
        return appeals.leave_without_consideration(appeal, "abuse", "Мат в тексте", actor=officer)
    if action == "close":
        return appeals.close(appeal, actor=officer)
    if action == "answer_on_air":
        appeals.on_question_answered([appeal.question], officer)
        return db.session.commit()
    if action == "reopen":
        return appeals.reopen(appeal, actor=officer)
    if action == "withdraw":
        return appeals.withdraw(appeal, actor=officer, means="phone")
    if action == "forward_immediately":
        appeals.forward_immediately(appeal, "Police department of the district", actor=officer)
        return db.session.commit()
    raise AssertionError(action)


# The table is database-independent: it runs on SQLite (the other tests here run on both databases).
@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
@pytest.mark.parametrize("status", list(A))
@pytest.mark.parametrize("action", sorted(appeals.TRANSITIONS))
def test_every_transition_pair_is_allowed_or_refused_by_the_table(app, status, action):
    officer = user("head" if action == "extend" else "admin")  # only the head decides an extension
    appeal = new_appeal()
    appeal.status = status.value
    # follow-up keeps an answered-on-air appeal open (without it the hook closes it at once); one
    # closes only once no written answer is due (test_an_appeal_answered_on_air_closes_only_in_writing)
    appeal.follow_up = (status == A.ANSWERED_ON_AIR and action != "close") or action == "answer_on_air"
    appeal.clock_running = appeal.clock_runs
    db.session.commit()
    allowed, target = appeals.TRANSITIONS[action]
    history = len(appeal.events)
    if action == "answer_on_air" and status not in allowed:
        _do(appeal, action, officer)  # the live-desk hook skips finished appeals quietly
        assert appeal.status == status and len(appeal.events) == history
        return
    if action == "assign" and status not in allowed and status in appeals.REASSIGNABLE:
        _do(appeal, action, officer)  # reassignment keeps the status
        assert appeal.status == status and appeal.department_id == 1
        return
    if status in allowed:
        _do(appeal, action, officer)
        db.session.refresh(appeal)
        assert appeal.status == target
        event = appeal.events[history]
        assert (event.from_status, event.to_status, event.actor_id) == (status.value, target.value, officer.id)
        assert appeal.clock_running == appeal.clock_runs  # the indexed column follows the status
    else:
        with pytest.raises(InvalidTransition) as refused:
            _do(appeal, action, officer)
        db.session.rollback()
        db.session.refresh(appeal)
        assert appeal.status == status and len(appeal.events) == history
        assert refused.value.status == 409


def test_refusal_names_the_current_status():
    appeal = new_appeal()
    with pytest.raises(InvalidTransition) as refused:
        appeals.close(appeal, actor=user("admin"))
    assert "registered" in refused.value.message


def _answer_on_air(*questions):
    for q in questions:
        moderation.transition(demo(), q.id, "send_to_air", actor=user("mod"), finish_current="mark_answered",
                              confirmed=True)
    moderation.transition(demo(), questions[-1].id, "mark_answered", actor=user("mod"))


def test_answered_on_air_closes_a_question_only_unless_follow_up_is_flagged():
    plain = submit("Will the park get lights?")
    flagged = submit("When will the road on Tole bi be repaired?")
    assert not plain.appeal.follow_up and not flagged.appeal.follow_up  # no contact: nothing in writing is due
    appeals.set_follow_up(flagged.appeal, True, actor=user("mod"))
    db.session.commit()
    _answer_on_air(plain, flagged)
    assert plain.status == flagged.status == QuestionStatus.ANSWERED
    assert plain.appeal.status == A.CLOSED and plain.appeal.closed_at is not None
    assert [e.action for e in plain.appeal.events][-2:] == ["answer_on_air", "close"]
    assert flagged.appeal.status == A.ANSWERED_ON_AIR and flagged.appeal.is_open
    assert not plain.appeal.clock_running and not flagged.appeal.clock_running  # questions only: no clock
    appeals.assign(flagged.appeal, 1, actor=user("admin"))
    assert flagged.appeal.status == A.ASSIGNED


def test_an_appeal_answered_on_air_stays_open_until_the_written_answer():
    named = submit("When will the road on Tole bi be repaired?", **NAMED)
    assert named.appeal.follow_up  # on by default for an appeal: its contact asks for a written answer
    _answer_on_air(named)
    appeal = named.appeal
    assert appeal.status == A.ANSWERED_ON_AIR and appeal.follow_up and appeal.clock_running
    assert appeals.status_label(appeal.status, appeal.follow_up) == "answered on air, written answer due"
    assert appeal.days_to_answer is None and appeal.answered_on_time is None  # not yet answered for the statistics
    with pytest.raises(InvalidTransition) as refused:
        appeals.close(appeal, actor=user("admin"))
    assert refused.value.message == appeals.WRITTEN_ANSWER_DUE
    db.session.rollback()
    appeals.answer(appeal, "The road will be repaired in June.", actor=user("admin"))
    assert appeal.status == A.ANSWERED and appeal.answered_on_time is True and not appeal.clock_running
    appeals.close(appeal, actor=user("admin"))
    assert appeal.status == A.CLOSED


def test_a_moderator_may_turn_the_default_follow_up_off_and_on_air_then_closes_the_appeal():
    named = submit("Is the pool open in winter?", **NAMED)
    moderation.flag_follow_up(demo(), named.id, False, actor=user("mod"))
    _answer_on_air(named)
    assert named.appeal.status == A.CLOSED and named.appeal.answered_on_time is True


def test_merged_askers_appeals_are_answered_with_the_question():
    target = submit("Bus 12 is always late")
    duplicate = submit("Why is the number 12 bus late every day?")
    moderation.merge_question(demo(), duplicate.id, target.id, actor=user("mod"))
    moderation.transition(demo(), target.id, "send_to_air", actor=user("mod"), confirmed=True)
    moderation.transition(demo(), target.id, "mark_answered", actor=user("mod"))
    assert duplicate.appeal.status == target.appeal.status == A.CLOSED
    moderation.transition(demo(), target.id, "reopen", actor=user("mod"))  # answered by mistake: both open again
    assert duplicate.appeal.status == target.appeal.status == A.REGISTERED
    assert duplicate.appeal.tracking_code != target.appeal.tracking_code


def test_merges_and_unmerges_are_in_both_appeals_histories():
    target, source = submit("Snow is not cleared in Samal 5"), submit("Samal 5 yard full of snow")
    moderation.merge_question(demo(), source.id, target.id, actor=user("mod"))
    db.session.expire_all()
    merged, merged_in = source.appeal.events[-1], target.appeal.events[-1]
    assert (merged.action, merged.public, merged.actor.username) == ("merged", True, "mod")
    assert appeals.event_label(merged) == f"Merged into {target.tracking_code}"
    assert (merged_in.action, merged_in.public) == ("merged_in", False)  # other residents' codes stay with staff
    assert appeals.event_label(merged_in) == f"{source.tracking_code} merged into this one"
    assert merged in appeals.public_events(source.appeal) and merged_in not in appeals.public_events(target.appeal)
    moderation.unmerge_question(demo(), source.id, actor=user("mod"))
    db.session.expire_all()
    assert [e.action for e in source.appeal.events][-2:] == ["merged", "unmerged"]
    assert appeals.event_label(source.appeal.events[-1]) == f"Merge into {target.tracking_code} undone"
    assert source.appeal.events[-1].public and not target.appeal.events[-1].public
    assert target.appeal.events[-1].action == "unmerged_out"
    assert source.appeal.status == target.appeal.status == A.REGISTERED  # the appeals' own statuses are untouched


def test_a_group_merge_writes_one_history_step_per_source_and_one_on_the_target():
    target = submit("Heating in block 7")
    sources = [submit(f"No heating in block 7, flat {i}") for i in range(3)]
    moderation.merge_group(demo(), target.id, [{"id": q.id} for q in sources], actor=user("mod"))
    db.session.expire_all()
    assert [q.appeal.events[-1].detail["code"] for q in sources] == [target.tracking_code] * 3
    assert target.appeal.events[-1].detail["codes"] == [q.tracking_code for q in sources]


def test_the_merge_steps_show_on_track_and_in_the_back_office(app):
    with app.test_request_context():
        target, source = submit("Lift broken at Syganak 15"), submit("Syganak 15 lift stopped")
        moderation.merge_question(demo(), source.id, target.id, actor=user("mod"))
        moderation.unmerge_question(demo(), source.id, actor=user("mod"))
        from companion.presenters import public_appeal
        db.session.expire_all()
        labels = [step["label"] for step in public_appeal(source.appeal)["history"]]
        assert labels[-2:] == [f"Merged into {target.tracking_code}", f"Merge into {target.tracking_code} undone"]
        assert not any(source.tracking_code in step["label"] for step in public_appeal(target.appeal)["history"])




@pytest.mark.parametrize("ground", ["spam", "abuse", "no_essence"])
def test_a_statutory_ground_leaves_the_appeal_without_consideration_and_restore_undoes_it(ground):
    q = submit("buy cheap watches", **NAMED)
    moderation.categorize_question(demo(), q.id, 1, actor=user("mod"))  # routed: assigned to the department
    change = moderation.transition(demo(), q.id, "reject", actor=user("mod"), ground=ground, note="Реклама часов")
    appeal = q.appeal
    assert appeal.status == A.LEFT_WITHOUT_CONSIDERATION and appeal.leave_ground == ground
    assert not appeal.clock_running and appeal.closed_at is not None
    leave, note, owed = appeal.events[-3:]
    assert (leave.action, leave.public, leave.note, leave.detail) == ("leave", True, "", {"ground": ground})
    assert (note.action, note.public, note.note) == ("comment", False, "Реклама часов")
    assert [(n.appeal, n.kind, n.owed) for n in change.notices] == [(appeal, "leave", "no_address")]
    assert (owed.action, owed.public, owed.detail) == ("notice_due", False, {"kind": "leave", "reason": "no_address"})
    moderation.transition(demo(), q.id, "restore", actor=user("mod"))
    assert appeal.status == A.ASSIGNED and appeal.leave_ground == "" and appeal.closed_at is None
    assert appeal.clock_running and appeal.events[-1].action == "reopen"
    assert (q.status, q.reject_ground, q.reject_reason) == (QuestionStatus.PENDING, "", "")


def test_not_for_this_broadcast_only_leaves_the_desk_and_the_appeal_goes_on():
    q = submit("When will the clinic on Abay get a lift?", **NAMED)
    moderation.categorize_question(demo(), q.id, 1, actor=user("mod"))
    routed = db.session.get(Category, 1).department_id
    change = moderation.transition(demo(), q.id, "reject", actor=user("mod"), ground="not_for_broadcast",
                                   note="Не по теме эфира про дороги")
    appeal = q.appeal
    assert q.status == QuestionStatus.REJECTED and q.reject_ground == "not_for_broadcast"
    assert appeal.status == A.ASSIGNED and appeal.department_id == routed and appeal.is_open and appeal.clock_running
    assert appeal.leave_ground == "" and change.notices == []
    step, note = appeal.events[-2:]
    assert (step.action, step.public, step.note) == ("not_for_broadcast", True, "")
    assert (note.public, note.note) == (False, "Не по теме эфира про дороги")
    moderation.transition(demo(), q.id, "restore", actor=user("mod"))
    assert q.status == QuestionStatus.PENDING and appeal.status == A.ASSIGNED
    assert appeal.events[-1].action == "desk_restored"


def test_not_for_this_broadcast_without_a_category_stays_registered_for_the_back_office():
    q = submit("Can the akimat help with my pension?", **NAMED)
    moderation.transition(demo(), q.id, "reject", actor=user("mod"), ground="not_for_broadcast")
    assert q.appeal.status == A.REGISTERED and q.appeal.clock_running
    appeals.forward(q.appeal, "Государственная корпорация", actor=user("admin"))  # outside competence: forwarded
    assert q.appeal.status == A.FORWARDED


def test_restoring_a_rejection_from_before_grounds_reopens_its_appeal():
    q = submit("old spam")
    moderation.transition(demo(), q.id, "reject", actor=user("mod"), ground="spam")
    q.reject_ground = ""  # as 0010 left the rejections made before it
    db.session.commit()
    moderation.transition(demo(), q.id, "restore", actor=user("mod"))
    assert q.appeal.status == A.REGISTERED


@pytest.mark.parametrize("ground", [None, "", "not_for_broadcast", "duplicate", "Advertising", 1])
def test_leaving_without_consideration_in_the_back_office_needs_a_statutory_ground(ground):
    appeal = new_appeal()
    with pytest.raises(ValidationError) as refused:
        appeals.leave_without_consideration(appeal, ground, "note", actor=user("admin"))
    assert "ground" in refused.value.fields
    db.session.rollback()
    assert appeal.status == A.REGISTERED and appeal.leave_ground == ""


def test_back_office_leave_keeps_the_note_internal():
    appeal = new_appeal()
    appeals.leave_without_consideration(appeal, "no_essence", "Текст из одних букв", actor=user("admin"))
    assert appeal.leave_ground == "no_essence"
    assert [(e.action, e.public, e.note) for e in appeal.events[-3:]] == [
        ("leave", True, ""), ("comment", False, "Текст из одних букв"), ("notice_due", False, "")]


def test_merging_several_askers_makes_the_target_appeal_collective():
    target, duplicate, alone = submit("Bus 7 never comes"), submit("Where is bus 7?"), submit("Lights on Abay")
    assert not target.appeal.collective
    moderation.merge_question(demo(), duplicate.id, target.id, actor=user("mod"))
    assert target.appeal.collective and not duplicate.appeal.collective and not alone.appeal.collective


# --- the record: type, form, repeat, collective ---------------------------------------------

def test_form_follows_the_channel():
    web = submit("From the web")
    phone, _ = intake.submit_question(demo(), {"text": "A caller asks about heating", "client_id": "phone-000000001"},
                                      channel="phone", approved=True)
    assert (web.appeal.form, web.appeal.appeal_type) == ("electronic", "statement")
    assert phone.appeal.form == "oral"
    assert appeals.form_of_channel("api") == appeals.form_of_channel("open311") == "electronic"


def test_the_officer_sets_type_form_and_flags_and_bad_values_are_refused():
    appeal = new_appeal()
    appeals.set_record(appeal, {"appeal_type": "complaint", "form": "written", "repeat": "1", "collective": "1"},
                       actor=user("admin"))
    assert (appeal.appeal_type, appeal.form, appeal.repeat, appeal.collective) == ("complaint", "written", True, True)
    event = appeal.events[-1]
    assert (event.action, event.public) == ("record", False)
    appeals.set_record(appeal, {"appeal_type": "complaint", "form": "written"}, actor=user("admin"))  # unticked
    assert not appeal.repeat and not appeal.collective
    for bad in ({"appeal_type": "petition", "form": "written"}, {"appeal_type": "request", "form": "fax"}, {}):
        with pytest.raises(ValidationError):
            appeals.set_record(appeal, bad, actor=user("admin"))
        db.session.rollback()
    assert (appeal.appeal_type, appeal.form) == ("complaint", "written")


def _with_contact(text: str, contact: str, category_id: int | None, days_ago: int = 0) -> Appeal:
    appeal = submit(text, contact=contact, consent=True).appeal
    appeal.received_at = appeal.received_at - timedelta(days=days_ago)
    db.session.commit()
    if category_id:
        appeals.categorize(appeal, category_id, actor=user("admin"))
    return appeal


def test_the_same_contact_in_the_same_category_within_a_year_is_a_repeat():
    first = _with_contact("Potholes on Abay again", "+77011112233", 1, days_ago=300)
    assert not first.repeat
    second = _with_contact("Abay potholes still there", "+77011112233", 1)
    other_category = _with_contact("And the lights on Abay", "+77011112233", 2)
    other_person = _with_contact("Potholes near my school", "+77019998877", 1)
    assert second.repeat and not other_category.repeat and not other_person.repeat


def test_an_appeal_more_than_a_year_later_is_not_a_repeat():
    _with_contact("Potholes on Abay", "+77011112233", 1, days_ago=400)
    assert not _with_contact("Potholes on Abay again", "+77011112233", 1).repeat


def test_no_contact_is_never_a_repeat():
    _with_contact("Potholes on Abay", "", 1, days_ago=10)
    assert not _with_contact("Potholes on Abay again", "", 1).repeat


# --- withdrawal ------------------------------------------------------------------------------

def test_withdrawal_ends_the_appeal_stops_the_clock_and_is_public():
    appeal = new_appeal()
    appeals.withdraw(appeal, actor=None, means="web")
    assert appeal.status == A.WITHDRAWN and not appeal.is_open and not appeal.clock_running
    assert appeal.closed_at is not None
    event = appeal.events[-1]
    assert (event.action, event.public, event.actor_id, event.detail) == ("withdraw", True, None, {"means": "web"})
    with pytest.raises(InvalidTransition):
        appeals.withdraw(appeal, actor=None, means="web")


def test_an_answer_on_air_whose_follow_up_was_cleared_cannot_be_withdrawn():
    q = submit("Answered on air, follow-up cleared later")
    appeals.set_follow_up(q.appeal, True, actor=user("mod"))
    appeals.on_question_answered([q], user("mod"))
    appeals.set_follow_up(q.appeal, False, actor=user("mod"))
    db.session.commit()
    assert q.appeal.status == A.ANSWERED_ON_AIR and not appeals.withdrawable(q.appeal)
    with pytest.raises(InvalidTransition):
        appeals.withdraw(q.appeal, actor=None, means="web")


def test_the_back_office_is_offered_exactly_the_steps_the_service_takes():
    q = submit("Answered on air, a written answer still due")
    appeals.set_follow_up(q.appeal, True, actor=user("mod"))
    appeals.on_question_answered([q], user("mod"))
    db.session.commit()
    appeal = q.appeal
    assert not appeals.allows(appeal, "close") and appeals.follow_up_settable(appeal)
    with pytest.raises(InvalidTransition):
        appeals.close(appeal, actor=user("admin"))
    db.session.rollback()
    appeals.set_follow_up(appeal, False, actor=user("mod"))
    assert appeals.allows(appeal, "close")
    appeals.close(appeal, actor=user("admin"))
    assert not appeals.allows(appeal, "close") and not appeals.follow_up_settable(appeal)
    question_only = submit("A question only, no name").appeal
    assert question_only.statutory is False and not appeals.allows(question_only, "extend")
    assert appeals.allows(new_appeal(), "extend")


def test_staff_record_a_withdrawal_by_phone_or_paper_but_never_as_the_web():
    appeal = new_appeal()
    for means, actor in (("web", user("admin")), ("phone", None), ("fax", user("admin")), (None, user("admin"))):
        with pytest.raises(ValidationError):
            appeals.withdraw(appeal, actor=actor, means=means)
        db.session.rollback()
    appeals.withdraw(appeal, actor=user("admin"), means="paper", note="Заявление от 12.12")
    assert appeal.status == A.WITHDRAWN
    assert [(e.action, e.public) for e in appeal.events[-2:]] == [("withdraw", True), ("comment", False)]


def test_withdrawn_appeals_are_out_of_the_overdue_list():
    from werkzeug.datastructures import MultiDict

    from companion.services import appeal_list
    late, withdrawn = new_appeal("late one"), new_appeal("withdrawn one")
    for appeal in (late, withdrawn):
        appeal.due_date = deadlines.local_date() - timedelta(days=3)
    db.session.commit()
    appeals.withdraw(withdrawn, actor=None, means="web")
    rows, _marker = appeal_list.page(user("admin"), appeal_list.AppealFilter.from_args(MultiDict({"overdue": "1"})))
    assert [a.id for a in rows] == [late.id]


def test_moderator_category_routes_the_appeal_to_its_department():
    q = submit("Pothole at the school gate")
    category = db.session.get(Category, 1)
    moderation.categorize_question(demo(), q.id, category.id, actor=user("mod"))
    assert q.appeal.category_id == 1
    assert q.appeal.department_id == category.department_id
    assert q.appeal.status == A.ASSIGNED and q.appeal.events[-1].action == "route"


# --- extension and forwarding ------------------------------------------------------------

def test_extension_past_two_months_is_refused_with_the_limit_named():
    appeal = new_appeal()
    limit = deadlines.extension_limit(deadlines.local_date(appeal.received_at))
    with pytest.raises(ValidationError) as refused:
        appeals.extend(appeal, limit + timedelta(days=1), "Survey", actor=user("head"))
    assert format_date(limit, "long") in str(refused.value.fields["due_date"])  # the page's language, not ISO
    assert refused.value.detail["limit"] == limit.isoformat()
    db.session.rollback()
    assert appeal.status == A.REGISTERED and appeal.due_date == appeal.original_due_date


def test_extension_to_the_limit_sets_the_notice_due_date():
    appeal = new_appeal()
    limit = deadlines.extension_limit(deadlines.local_date(appeal.received_at))
    appeals.extend(appeal, limit, "A site survey is needed", actor=user("head"))
    assert appeal.status == A.EXTENDED and appeal.due_date == limit
    assert appeal.notice_due_date == deadlines.office_calendar().add_working_days(deadlines.local_date(), 3)
    event, owed = appeal.events[-2:]
    assert owed.action == "notice_due" and owed.detail == {"kind": "extend", "reason": "no_address"}
    assert event.note == "A site survey is needed" and event.detail["previous_due"] == appeal.original_due_date.isoformat()


@pytest.mark.parametrize("new_due, reason", [("not-a-date", "x"), ("2020-01-01", "x"), (None, "")])
def test_bad_extensions_are_refused_and_nothing_changes(new_due, reason):
    appeal = new_appeal()
    new_due = new_due or (appeal.due_date + timedelta(days=3)).isoformat()
    with pytest.raises(ValidationError):
        appeals.extend(appeal, new_due, reason, actor=user("head"))
    db.session.rollback()
    assert appeal.status == A.REGISTERED and appeal.version == 1


def test_forwarding_records_the_body_and_whether_it_was_late():
    appeal = new_appeal()
    appeals.forward(appeal, "Akimat of Almaty region", "Outside the district", actor=user("admin"))
    assert appeal.status == A.FORWARDED and appeal.forwarded_to == "Akimat of Almaty region"
    assert appeal.events[-2].detail == {"forwarded_to": "Akimat of Almaty region", "late": False}
    assert appeal.events[-1].detail == {"kind": "forward", "reason": "no_address"}  # owed by phone or in writing


def test_urgency_marks_overdue_red_and_due_soon_amber():
    today = date(2026, 4, 1)
    assert deadlines.urgency(date(2026, 3, 31), True, today) == "overdue"
    assert deadlines.urgency(date(2026, 4, 4), True, today) == "due_soon"
    assert deadlines.urgency(date(2026, 4, 5), True, today) is None
    assert deadlines.urgency(date(2026, 3, 1), False, today) is None


# --- departments and officers --------------------------------------------------------------

def test_officer_sees_only_their_department():
    appeal = new_appeal()
    officer = user("officer")
    assert not permissions.may_see_appeal(officer, appeal)
    with pytest.raises(Forbidden):
        appeals.get_appeal(appeal.id, user=officer)
    appeals.assign(appeal, 1, actor=user("admin"))
    assert appeals.get_appeal(appeal.id, user=officer) is appeal
    appeals.assign(appeal, 2, actor=user("admin"))
    assert not permissions.may_see_appeal(officer, appeal)
    assert not permissions.may_see_appeal(user("mod"), appeal) and permissions.may_see_appeal(user("admin"), appeal)


def test_officer_of_another_department_cannot_be_assigned():
    appeal = new_appeal()
    with pytest.raises(ValidationError) as refused:
        appeals.assign(appeal, 2, user("officer").id, actor=user("admin"))
    assert "officer_id" in refused.value.fields


def test_stale_version_is_refused():
    appeal = new_appeal()
    appeals.assign(appeal, 1, actor=user("admin"))
    with pytest.raises(StaleVersion):
        appeals.get_appeal(appeal.id, version=1)


def test_bulk_assign_is_all_or_nothing():
    first, second = new_appeal("one"), new_appeal("two")
    appeals.forward(second, "Elsewhere", actor=user("admin"))
    with pytest.raises(InvalidTransition) as refused:
        appeals.bulk_assign([first.id, second.id], 3, actor=user("admin"))
    assert second.tracking_code in refused.value.message
    db.session.expire_all()
    assert db.session.get(Appeal, first.id).department_id is None
    assert appeals.bulk_assign([first.id], 3, actor=user("admin")) == 1
    assert db.session.get(Appeal, first.id).status == A.ASSIGNED


def test_appeal_from_another_channel_is_idempotent_per_key_and_routed():
    from companion.services import apikeys
    key, _ = apikeys.create_key("109 centre", actor=None)
    other, _ = apikeys.create_key("e-Otinish", actor=None)
    appeal, new = appeals.create_appeal({"description": "Broken street light", "service_code": "1",
                                         "address": "Abay 10", "lat": "43.2", "long": "76.9"}, client_id="ext-1",
                                        api_key=key)
    again, new_again = appeals.create_appeal({"description": "Broken street light", "service_code": "1", "address": "Abay 10"}, client_id="ext-1",
                                             api_key=key)
    assert new and not new_again and again.id == appeal.id
    # another integrator's copy of the client_id is its own appeal, never the first one
    theirs, theirs_new = appeals.create_appeal({"description": "Pothole", "service_code": "1", "address": "Abay 10"}, client_id="ext-1",
                                                api_key=other)
    assert theirs_new and theirs.id != appeal.id and theirs.text == "Pothole"
    assert appeal.department_id == db.session.get(Category, 1).department_id
    assert (appeal.lat, appeal.long, appeal.address) == (43.2, 76.9, "Abay 10")
    with pytest.raises(ValidationError) as refused:
        appeals.create_appeal({"description": "", "lat": "north"}, api_key=key)
    assert set(refused.value.fields) == {"description", "service_code", "lat", "long"}  # lat without long names the other
    with pytest.raises(NotFound):  # GeoReport v2: an unknown service is 404
        appeals.create_appeal({"description": "Bench", "service_code": "999", "address": "Abay 10"}, api_key=key)
    assert db.session.execute(select(func.count()).select_from(Department)).scalar_one() == 6
    assert db.session.execute(select(func.count()).select_from(AppealEvent)
                              .where(AppealEvent.appeal_id == appeal.id)).scalar_one() == 2


def test_the_roadmap_counts_a_question_not_for_the_broadcast_and_not_one_left_on_a_ground():
    from companion.services import reports
    off_topic, spam = submit("About pensions, not roads", **NAMED), submit("Buy cheap windows", **NAMED)
    for q in (off_topic, spam):
        moderation.transition(demo(), q.id, "approve", actor=user("mod"))
    moderation.transition(demo(), off_topic.id, "reject", actor=user("mod"), ground="not_for_broadcast")
    moderation.transition(demo(), spam.id, "reject", actor=user("mod"), ground="spam")
    figures = reports.compute_roadmap()
    assert figures["total"] == 1 and figures["open"] == 1 and figures["by_status"] == {"registered": 1}


# --- questions only and appeals (APPK: anonymous appeals are not considered) ---------------

@pytest.mark.parametrize("fields, statutory", [
    ({}, False),
    ({"author_name": "Aigerim", "consent": True}, False),
    ({"contact": "+77011234567", "consent": True}, False),
    ({"author_name": "   ", "contact": "aigerim@example.kz", "consent": True}, False),
    ({"author_name": "Aigerim", "contact": "aigerim@example.kz", "consent": True}, True),
    (NAMED, True),
])
def test_only_a_name_and_a_contact_make_a_question_an_appeal_under_the_clock(fields, statutory):
    appeal = submit("Who repairs the lift in block 12?", **fields).appeal
    assert appeal.statutory is statutory and appeal.clock_running is statutory and appeal.clock_runs is statutory
    assert appeal.follow_up is statutory  # an appeal owes a written answer even when answered on air
    assert appeal.tracking_code and appeal.access_code and appeal.status == A.REGISTERED


def test_every_channel_follows_the_same_rule():
    from companion.models import Channel
    from companion.services import apikeys
    mod = user("mod")
    phone_named, _ = intake.submit_question(demo(), {"text": "Caller: heating", **NAMED}, channel=Channel.PHONE,
                                            actor=mod, approved=True, rate_limited=False)
    phone_anonymous, _ = intake.submit_question(demo(), {"text": "Caller: no name"}, channel=Channel.PHONE,
                                                actor=mod, approved=True, rate_limited=False)
    api_named, _ = intake.submit_question(demo(), {"text": "From the API", **NAMED}, channel=Channel.API)
    key, _ = apikeys.create_key("109 centre", actor=None)
    open311_named, _ = appeals.create_appeal({"description": "Pothole", "author_name": "Serik Abenov", "service_code": "1", "address": "Abay 10",
                                              "contact": "serik@example.kz"}, api_key=key)
    open311_anonymous, _ = appeals.create_appeal({"description": "Pothole", "contact": "serik@example.kz", "service_code": "1", "address": "Abay 10"},
                                                 api_key=key)
    assert phone_named.appeal.statutory and api_named.appeal.statutory and open311_named.statutory
    assert not phone_anonymous.appeal.statutory and not open311_anonymous.statutory
    assert not open311_anonymous.clock_running and open311_named.clock_running


def _overdue(*appeals_: Appeal) -> None:
    for appeal in appeals_:
        appeal.due_date = deadlines.local_date() - timedelta(days=1)
    db.session.commit()


def test_questions_only_are_left_out_of_the_statistics_and_the_overdue_lists():
    from companion.services import appeal_list, reports
    from werkzeug.datastructures import MultiDict
    anonymous = submit("Anonymous: when is the next broadcast?")
    answered_anonymous = submit("Anonymous: are the buses free today?")
    named = submit("Named: the lift is broken", **NAMED)
    for q in (anonymous, answered_anonymous, named):
        moderation.transition(demo(), q.id, "approve", actor=user("mod"))
    _answer_on_air(answered_anonymous)
    _overdue(anonymous.appeal, named.appeal)
    admin = user("admin")
    overdue, _ = appeal_list.page(admin, appeal_list.AppealFilter(overdue=True))
    assert [a.id for a in overdue] == [named.appeal.id]
    only = appeal_list.AppealFilter.from_args(MultiDict({"kind": "question"}))
    assert {a.id for a in appeal_list.page(admin, only)[0]} == {anonymous.appeal.id, answered_anonymous.appeal.id}
    with pytest.raises(ValidationError):
        appeal_list.AppealFilter.from_args(MultiDict({"kind": "both"}))
    figures = reports.compute_roadmap()
    assert figures["total"] == 1 and figures["open"] == 1 and figures["answered"] == 0
    assert answered_anonymous.appeal.status == A.CLOSED and answered_anonymous.appeal.answered_on_time is None
    appeals.assign(named.appeal, 1, actor=admin)
    appeals.answer(named.appeal, "The lift was repaired.", actor=admin)
    figures = reports.compute_roadmap()
    assert figures["answered"] == 1 and figures["on_time_share"] == 0.0  # answered late, and only it counts


def test_a_question_only_has_no_term_to_extend():
    appeal = submit("Anonymous: the park lights").appeal
    with pytest.raises(InvalidTransition) as refused:
        appeals.extend(appeal, deadlines.local_date() + timedelta(days=20), "Site survey", actor=user("head"))
    assert refused.value.message == appeals.NO_TERM


# --- forward immediately (crime or threat to security) --------------------------------------

def test_forward_immediately_records_who_when_and_to_whom_for_a_question_only_too():
    from companion.models import AuditEvent
    q = submit("Anonymous: someone is preparing to set fire to the school")
    before = appeals.deadlines.local_date()
    moderation.forward_immediately(demo(), q.id, "  District police department  ", actor=user("mod"), version=q.version)
    appeal = q.appeal
    assert appeal.status == A.FORWARDED and appeal.urgent and appeal.forwarded_to == "District police department"
    event = appeal.events[-1]
    assert (event.action, event.actor_id, event.detail["forwarded_to"], event.detail["immediate"]) == (
        "forward_immediately", user("mod").id, "District police department", True)
    assert deadlines.local_date(event.at) >= before and appeal.closed_at is not None
    audit = db.session.execute(select(AuditEvent).where(AuditEvent.action == "forward_immediately")).scalar_one()
    assert audit.question_id == q.id and audit.actor == "mod"
    assert "forward_immediately" not in moderation.allowed_actions(q)  # once only


@pytest.mark.parametrize("body", ["", "   ", None, 42, "x" * 201])
def test_forward_immediately_needs_the_body_it_goes_to(body):
    q = submit("Anonymous: a threat")
    with pytest.raises(ValidationError) as refused:
        moderation.forward_immediately(demo(), q.id, body, actor=user("mod"))
    assert "forwarded_to" in refused.value.fields
    db.session.rollback()
    assert q.appeal.status == A.REGISTERED and not q.appeal.urgent


def test_open_is_one_rule_in_python_in_sql_and_for_retention():
    """Appeal.is_open, the lists' "unfinished" filter (SQL), retention's "finished" and the report's plain rows
    agree for every status and follow-up flag (the rule was written four times, and could drift)."""
    from companion.models import appeal_open
    from companion.services import appeal_list, privacy
    appeal = new_appeal()
    mine = Appeal.id == appeal.id
    for status in AppealStatus:
        for follow_up in (False, True):
            appeal.status, appeal.follow_up = status.value, follow_up
            db.session.flush()
            expected = status in (A.REGISTERED, A.ASSIGNED, A.IN_PROGRESS, A.EXTENDED) or (
                status == A.ANSWERED_ON_AIR and follow_up)
            case = (status, follow_up)
            assert appeal.is_open is expected, case
            assert appeal_open(status.value, follow_up) is expected, case
            assert db.session.scalar(select(func.count()).where(mine, appeal_list.unfinished_condition())) == expected, case
            assert db.session.scalar(select(func.count()).select_from(Appeal).where(mine, privacy._finished())) == (
                not expected), case
            assert appeals.follow_up_settable(appeal) is (expected or status == A.ANSWERED_ON_AIR), case
            assert appeals.allows(appeal, "assign") is (expected or status == A.ANSWERED_ON_AIR), case


def test_a_missing_ground_is_refused_with_the_grounds_named_as_people_read_them(ctx):
    """The refusal names each ground in the page's words with the code an integrator sends, not the codes alone."""
    from companion.errors import ValidationError
    with pytest.raises(ValidationError) as refused:
        appeals.leave_ground("nonsense")
    message = str(refused.value.fields["ground"])
    assert "Spam (spam)" in message and "No substance (no_essence)" in message


def test_access_codes_are_sixteen_letters_of_the_alphabet_each_letter_equally_likely_in_every_place():
    """The secret half of an appeal's public address: 79 bits, from a letter set with no 0/o or 1/l/i. Drawn
    as one number below 31^16 and written out, every place must still take every letter as often as any."""
    from collections import Counter

    from companion.models import ACCESS_CODE_ALPHABET, new_access_code
    codes = [new_access_code() for _ in range(31 * 400)]
    assert all(len(code) == 16 and set(code) <= set(ACCESS_CODE_ALPHABET) for code in codes)
    assert len(set(codes)) == len(codes)
    for place in range(16):
        counts = Counter(code[place] for code in codes)
        assert set(counts) == set(ACCESS_CODE_ALPHABET), place
        assert max(counts.values()) < 2 * min(counts.values()), (place, counts)  # 400 expected each
