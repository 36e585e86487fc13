"""The appeal's life without HTTP: transition table, statutory clock, routing, live-desk hooks."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from companion.extensions import db
from companion.models import Appeal, AppealEvent, AppealStatus, Category, Department, QuestionStatus, User
from companion.services import appeals, deadlines, intake, moderation
from companion.services.deadlines import DAY_OFF, WORKING_DAY, WorkCalendar
from companion.services.errors import Forbidden, InvalidTransition, StaleVersion, ValidationError

from .test_services import demo, submit

A = AppealStatus
pytestmark = pytest.mark.usefixtures("ctx")


def user(name: str) -> User:
    return db.session.execute(select(User).where(User.username == name)).scalar_one()


def new_appeal(text="How will the bus routes change?") -> Appeal:
    return submit(text).appeal


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
        return appeals.leave_without_consideration(appeal, "Anonymous abuse", actor=officer)
    if action == "close":
        return appeals.close(appeal, actor=officer)
    if action == "answer_on_air":
        appeals.on_question_answered([appeal.question], officer)
        return db.session.commit()
    if action == "reopen":
        return appeals.reopen(appeal, actor=officer)
    raise AssertionError(action)


# The table is database-independent: it runs on SQLite (the other tests here run on both databases).
@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
@pytest.mark.parametrize("status", list(A))
@pytest.mark.parametrize("action", sorted(appeals.TRANSITIONS))
def test_every_transition_pair_is_allowed_or_refused_by_the_table(app, status, action):
    officer = user("admin")
    appeal = new_appeal()
    appeal.status = status.value
    # follow-up keeps an answered-on-air appeal open (without it the hook closes it at once)
    appeal.follow_up = status == A.ANSWERED_ON_AIR or action == "answer_on_air"
    appeal.clock_running = appeal.is_open
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
        assert appeal.clock_running == appeal.is_open  # the indexed column follows the status
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


def test_answered_on_air_closes_unless_follow_up_is_flagged():
    plain = submit("Will the park get lights?")
    flagged = submit("When will the road on Tole bi be repaired?")
    appeals.set_follow_up(flagged.appeal, True, actor=user("mod"))
    db.session.commit()
    for q in (plain, flagged):
        moderation.transition(demo(), q.id, "send_to_air", actor=user("mod"), finish_current="mark_answered",
                              confirmed=True)
    moderation.transition(demo(), flagged.id, "mark_answered", actor=user("mod"))
    assert plain.status == flagged.status == QuestionStatus.ANSWERED
    assert plain.appeal.status == A.CLOSED and plain.appeal.closed_at is not None
    assert [e.action for e in plain.appeal.events][-2:] == ["answer_on_air", "close"]
    assert flagged.appeal.status == A.ANSWERED_ON_AIR and flagged.appeal.is_open and flagged.appeal.clock_running
    assert not plain.appeal.clock_running
    appeals.assign(flagged.appeal, 1, actor=user("admin"))
    assert flagged.appeal.status == A.ASSIGNED


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


def test_rejecting_leaves_the_appeal_without_consideration_and_restore_reopens_it():
    q = submit("buy cheap watches")
    moderation.transition(demo(), q.id, "reject", actor=user("mod"), reason="Advertising")
    assert q.appeal.status == A.LEFT_WITHOUT_CONSIDERATION
    assert q.appeal.events[-1].note == "Advertising"
    moderation.transition(demo(), q.id, "restore", actor=user("mod"))
    assert q.appeal.status == A.REGISTERED and q.appeal.closed_at is None


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
        appeals.extend(appeal, limit + timedelta(days=1), "Survey", actor=user("admin"))
    assert limit.isoformat() in str(refused.value.fields["due_date"])
    assert refused.value.detail["limit"] == limit.isoformat()
    db.session.rollback()
    assert appeal.status == A.REGISTERED and appeal.due_date == appeal.original_due_date


def test_extension_to_the_limit_sets_the_notice_due_date():
    appeal = new_appeal()
    limit = deadlines.extension_limit(deadlines.local_date(appeal.received_at))
    appeals.extend(appeal, limit, "A site survey is needed", actor=user("admin"))
    assert appeal.status == A.EXTENDED and appeal.due_date == limit
    assert appeal.notice_due_date == deadlines.office_calendar().add_working_days(deadlines.local_date(), 3)
    event = appeal.events[-1]
    assert event.note == "A site survey is needed" and event.detail["previous_due"] == appeal.original_due_date.isoformat()


@pytest.mark.parametrize("new_due, reason", [("not-a-date", "x"), ("2020-01-01", "x"), (None, "")])
def test_bad_extensions_are_refused_and_nothing_changes(new_due, reason):
    appeal = new_appeal()
    new_due = new_due or (appeal.due_date + timedelta(days=3)).isoformat()
    with pytest.raises(ValidationError):
        appeals.extend(appeal, new_due, reason, actor=user("admin"))
    db.session.rollback()
    assert appeal.status == A.REGISTERED and appeal.version == 1


def test_forwarding_records_the_body_and_whether_it_was_late():
    appeal = new_appeal()
    appeals.forward(appeal, "Akimat of Almaty region", "Outside the district", actor=user("admin"))
    assert appeal.status == A.FORWARDED and appeal.forwarded_to == "Akimat of Almaty region"
    assert appeal.events[-1].detail == {"forwarded_to": "Akimat of Almaty region", "late": False}


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
    assert not appeals.may_see(officer, appeal)
    with pytest.raises(Forbidden):
        appeals.get_appeal(appeal.id, user=officer)
    appeals.assign(appeal, 1, actor=user("admin"))
    assert appeals.get_appeal(appeal.id, user=officer) is appeal
    appeals.assign(appeal, 2, actor=user("admin"))
    assert not appeals.may_see(officer, appeal)
    assert not appeals.may_see(user("mod"), appeal) and appeals.may_see(user("admin"), appeal)


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
    again, new_again = appeals.create_appeal({"description": "Broken street light"}, client_id="ext-1", api_key=key)
    assert new and not new_again and again.id == appeal.id
    # another integrator's copy of the client_id is its own appeal, never the first one
    theirs, theirs_new = appeals.create_appeal({"description": "Pothole"}, client_id="ext-1", api_key=other)
    assert theirs_new and theirs.id != appeal.id and theirs.text == "Pothole"
    assert appeal.department_id == db.session.get(Category, 1).department_id
    assert (appeal.lat, appeal.long, appeal.address) == (43.2, 76.9, "Abay 10")
    with pytest.raises(ValidationError) as refused:
        appeals.create_appeal({"description": "", "service_code": "999", "lat": "north"}, api_key=key)
    assert set(refused.value.fields) == {"description", "service_code", "lat"}
    assert db.session.execute(select(func.count()).select_from(Department)).scalar_one() == 6
    assert db.session.execute(select(func.count()).select_from(AppealEvent)
                              .where(AppealEvent.appeal_id == appeal.id)).scalar_one() == 2
