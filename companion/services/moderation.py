"""The question's life on the live desk: an explicit transition table and the moderator's actions."""
from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, insert, select, update
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import (MERGEABLE_QUESTION_STATUSES, OPEN_QUESTION_STATUSES, Broadcast, BroadcastStatus, Category, Channel, Question, QuestionMerge, QuestionStatus, User,
                      Vote, utcnow)
from . import appeals, audience, fields, report_mail, wording
from .audit import audit
from .changes import Change, ChangeBuilder
from ..errors import ConfirmationRequired, Conflict, InvalidTransition, NotFound, StaleVersion, ValidationError
from .fields import Limit, parse_id, parse_version, question_too_long
from .intake import recount_votes

S = QuestionStatus

# action -> (statuses it may start from, status it leads to, event name)
TRANSITIONS: dict[str, tuple[frozenset, QuestionStatus, str]] = {
    "approve": (frozenset({S.PENDING, S.DEFERRED}), S.APPROVED, "question_approved"),
    "queue": (frozenset({S.PENDING, S.APPROVED, S.DEFERRED}), S.QUEUED, "question_queued"),
    "unqueue": (frozenset({S.QUEUED}), S.APPROVED, "question_unqueued"),
    "send_to_air": (frozenset({S.PENDING, S.APPROVED, S.QUEUED, S.DEFERRED}), S.ON_AIR, "question_sent_to_air"),
    "mark_answered": (frozenset({S.ON_AIR}), S.ANSWERED, "question_answered"),
    "defer": (frozenset({S.APPROVED, S.QUEUED, S.ON_AIR}), S.DEFERRED, "question_deferred"),
    "reject": (frozenset({S.PENDING, S.APPROVED, S.QUEUED, S.DEFERRED}), S.REJECTED, "question_rejected"),
    "restore": (frozenset({S.REJECTED}), S.PENDING, "question_restored"),
    # the question on air goes back to the top of the queue; its appeal is untouched
    "take_off_air": (frozenset({S.ON_AIR}), S.QUEUED, "question_taken_off_air"),
    # "answered" was a mistake: back to the top of the queue, and its appeal opens again
    "reopen": (frozenset({S.ANSWERED}), S.QUEUED, "question_reopened"),
}
# Actions that need the moderator's explicit confirmation from these statuses: a question nobody
# approved never reaches the stream by one click or one key.
def unreviewed(question: Question) -> bool:
    """Nobody on the desk has acted on it: pending, or let through while pre-moderation was off and
    untouched since (a caller's question typed in by a moderator counts as read)."""
    return question.status == S.PENDING or (
        question.status == S.APPROVED and question.version == 1 and question.channel != Channel.PHONE)


# action -> the questions it must be confirmed for (the desk asks first; the server refuses unconfirmed)
CONFIRM = {"send_to_air": unreviewed}
# What may happen to the question on air when another one is sent to air.
FINISH_CURRENT = ("mark_answered", "defer", "take_off_air")
EDITABLE = frozenset({S.PENDING, S.APPROVED, S.QUEUED, S.DEFERRED, S.ON_AIR})
# The desk's column of each status (the desk draws what it is sent: static/js/desk-board.js has no status list);
# a status not named here is done with.
DESK_COLUMNS = {S.SUBMITTED: "incoming", S.PENDING: "incoming", S.APPROVED: "approved", S.QUEUED: "queue",
                S.ON_AIR: "onair"}


def desk_column(question: Question) -> str:
    """Where the moderators' desk shows a question: incoming, approved, queue, onair or done."""
    return DESK_COLUMNS.get(S(question.status), "done")
MERGEABLE_SOURCE = MERGEABLE_QUESTION_STATUSES
MERGEABLE_TARGET = OPEN_QUESTION_STATUSES
SETTINGS = ("pre_moderation", "public_feed", "anonymous_allowed", "questions_open", "show_asker", "overlay_cleared")

# The grounds of a rejection on the desk, in the desk's order (its keys 1, 2, 3, 4). The statutory ones leave
# the appeal without consideration; "not for this broadcast" only takes the question off the desk. A duplicate
# is merged, not rejected.
REJECT_GROUNDS = (*wording.LEAVE_GROUNDS, appeals.NOT_FOR_BROADCAST)
REJECT_GROUND_NAMES = {**wording.GROUND_NAMES, appeals.NOT_FOR_BROADCAST: _l("Not for this broadcast")}
# The ground recorded when the applicant withdrew the appeal while its question waited on the desk: no
# moderator chooses it, and no moderator can restore the question (the resident took it back).
WITHDRAWN = "withdrawn"
WITHDRAWN_LABEL = _l("Withdrawn by the applicant")
# A withdrawn appeal's question leaves the desk from these statuses (on air it stays for the speaker to finish).
LEAVES_DESK_ON_WITHDRAWAL = frozenset({S.PENDING, S.APPROVED, S.QUEUED, S.DEFERRED})


def reject_grounds() -> list[dict]:
    """The desk's reject grounds with their names in the current language (the desk builds its buttons from these)."""
    return [{"ground": g, "label": str(REJECT_GROUND_NAMES[g]), "statutory": g in wording.LEAVE_GROUNDS}
            for g in REJECT_GROUNDS]


def _reject_ground(value) -> str:
    """A known reject ground, or ValidationError saying which ones there are."""
    if value == "duplicate":
        raise ValidationError(fields={"ground": _l("A duplicate is merged into the question it repeats, not rejected.")})
    if not isinstance(value, str) or value not in REJECT_GROUNDS:
        raise ValidationError(fields={"ground": _l("Choose a ground for rejecting: %(grounds)s.",
                                                   grounds=", ".join(REJECT_GROUNDS))})
    return value


def _desk_note(value) -> str:
    """The moderator's optional internal note on a rejection, cleaned (refused beyond its column, never cut)."""
    return fields.text(value, "note", Limit.REJECT_NOTE)


STATUS_LABELS = {
    S.SUBMITTED: _l("submitted"), S.PENDING: _l("waiting for moderation"), S.APPROVED: _l("approved"),
    S.QUEUED: _l("in the speaker's queue"), S.ON_AIR: _l("on air now"), S.ANSWERED: _l("answered on air"),
    S.DEFERRED: _l("not reached on air"), S.REJECTED: _l("rejected"), S.MERGED: _l("merged with a similar question"),
}


# How an asker reads a status, by key: the desk's names, and two of its own for a rejection that is
# not a refusal ("not taken on air": the appeal goes on; "withdrawn by you")
RESIDENT_STATUS_LABELS = {**{s.value: label for s, label in STATUS_LABELS.items()},
                          "not_taken_on_air": _l("not taken on air"), "withdrawn": _l("withdrawn by you")}


def resident_status(question: Question) -> str:
    """The key of the question's live status as its asker reads it (RESIDENT_STATUS_LABELS): one only not for
    this broadcast is "not taken on air", since its appeal goes on; one withdrawn is "withdrawn by you"."""
    if question.status == S.REJECTED and question.reject_ground == appeals.NOT_FOR_BROADCAST:
        return "not_taken_on_air"
    if question.status == S.REJECTED and question.reject_ground == WITHDRAWN:
        return "withdrawn"
    return question.status


def resident_status_label(question: Question) -> str:
    """The question's live status as its asker reads it, in the current language."""
    return str(RESIDENT_STATUS_LABELS[resident_status(question)])


# What the desk may still do with a question whose asker withdrew the appeal while it was on air: finish it.
AFTER_WITHDRAWAL = frozenset({"mark_answered", "defer"})


def withdrawn_by_asker(question: Question) -> bool:
    """The question's own appeal was withdrawn and no other asker's question is merged into it: the
    question is the withdrawn resident's alone, so the desk may only finish it (never air it again)."""
    appeal = question.appeal
    return appeal is not None and appeal.status == appeals.A.WITHDRAWN and question.asker_count <= 1


def allowed_actions(question: Question) -> list[str]:
    """The moderator's actions this question's status allows, from the tables above (the desk shows
    these and keeps no state machine of its own)."""
    status = S(question.status)
    actions = [name for name, (allowed, _target, _event) in TRANSITIONS.items() if status in allowed]
    if status == S.REJECTED and question.reject_ground == WITHDRAWN:
        actions.remove("restore")
    if status in EDITABLE:
        actions.append("edit")
    if status in MERGEABLE_SOURCE:
        actions.append("merge")
    if status == S.MERGED:
        actions.append("unmerge")
    if status not in (S.MERGED, S.REJECTED):
        actions.append("categorize")
    appeal = question.appeal
    if appeal is not None and appeals.follow_up_settable(appeal):
        actions.append("follow_up")
    if appeal is not None and appeal.status in appeals.TRANSITIONS["forward_immediately"][0]:
        actions.append("forward_immediately")
    if withdrawn_by_asker(question):
        actions = [a for a in actions if a in AFTER_WITHDRAWAL]
    return actions


def confirm_actions(question: Question) -> list[str]:
    """Which of the allowed actions the desk must confirm first (and the server refuses unconfirmed)."""
    return [name for name, needs in CONFIRM.items() if needs(question)]


def get_question(broadcast: Broadcast, question_id, version=None) -> Question:
    """The broadcast's question by id, checking the version the screen saw (if given)."""
    qid = parse_id(question_id)
    question = db.session.get(Question, qid, options=[joinedload(Question.appeal)]) if qid else None
    if question is None or question.broadcast_id != broadcast.id:
        raise NotFound(_l("This question does not exist."))
    if version is not None:
        seen = parse_version(version)
        if seen is None:
            raise ValidationError(_l("Invalid version."))
        if seen != question.version:
            raise StaleVersion(current_version=question.version)
    return question


def on_air_question(broadcast: Broadcast) -> Question | None:
    """The question on air in this broadcast, if any."""
    return db.session.execute(select(Question).where(
        Question.broadcast_id == broadcast.id, Question.status == S.ON_AIR)
        .options(joinedload(Question.appeal))).scalars().first()


def _next_position(broadcast: Broadcast) -> int:
    top = db.session.execute(select(func.max(Question.position)).where(
        Question.broadcast_id == broadcast.id, Question.status == S.QUEUED)).scalar()
    return (top or 0) + 1


def _top_position(broadcast: Broadcast) -> int:
    first = db.session.execute(select(func.min(Question.position)).where(
        Question.broadcast_id == broadcast.id, Question.status == S.QUEUED)).scalar()
    return (first or 1) - 1


def _refuse_if_withdrawn(question: Question, action: str) -> None:
    if withdrawn_by_asker(question) and action not in AFTER_WITHDRAWAL:
        raise InvalidTransition(_l("Cannot do this: the applicant withdrew this question."), status=question.status)


def _apply(builder: ChangeBuilder, question: Question, action: str, actor: User | None = None) -> None:
    allowed, target, _event = TRANSITIONS[action]
    _refuse_if_withdrawn(question, action)
    if question.status not in allowed:
        raise InvalidTransition(
            _l("Cannot do this: the question is %(status)s.", status=STATUS_LABELS[S(question.status)]),
            status=question.status)
    builder.touch(question)
    if target == S.QUEUED and action in ("take_off_air", "reopen"):
        question.position = _top_position(builder.change.broadcast)
    elif target == S.QUEUED:
        question.position = _next_position(builder.change.broadcast)
    elif question.status == S.QUEUED:
        question.position = None
    if target == S.ON_AIR:
        question.aired_at = utcnow()
    if target == S.ANSWERED:
        question.answered_at = utcnow()
    if action == "reopen":
        question.answered_at = None
    question.status = target.value
    # the follow-up appeal moves in the same transaction
    if target == S.ANSWERED:
        appeals.on_question_answered([question], actor)
    elif target == S.REJECTED:
        appeals.on_question_rejected(question, question.reject_ground, question.reject_reason, actor)  # notes its notice
    elif action == "restore":
        appeals.on_question_restored(question, question.reject_ground, actor)
        question.reject_ground = question.reject_reason = ""
    elif action == "reopen":
        appeals.on_question_reopened(question, actor)


def transition(broadcast: Broadcast, question_id, action: str, *, actor: User | None, version=None,
               ground=None, note=None, finish_current: str | None = None, confirmed: bool = False,
               current_id=None) -> Change:
    """Move a question along its life by `action`, or refuse with a reason. A rejection needs a `ground`
    (REJECT_GROUNDS) and may carry the moderator's internal `note`."""
    if action not in TRANSITIONS:
        raise ValidationError(_l("Unknown action."))
    question = get_question(broadcast, question_id, version)
    if action in CONFIRM and CONFIRM[action](question) and confirmed is not True:
        raise ConfirmationRequired(_l("This question has not been approved. Confirm to send it to air."),
                                   status=question.status)
    builder = ChangeBuilder(TRANSITIONS[action][2], broadcast)
    if action == "send_to_air":
        current = on_air_question(broadcast)
        if current is not None and current.id != question.id:
            if finish_current not in FINISH_CURRENT:
                raise Conflict(_l("Another question is on air. Mark it answered or defer it first."),
                               on_air_id=current.id)
            if current_id is not None and parse_id(current_id) != current.id:
                # the screen decided about another question than the one on air now
                raise StaleVersion(_l("The question on air changed meanwhile. Your screen has been refreshed."),
                                   on_air_id=current.id)
            _apply(builder, current, finish_current, actor)
    detail = {}
    if action == "restore" and question.reject_ground == WITHDRAWN:
        raise InvalidTransition(_l("Cannot do this: the applicant withdrew this question."), status=question.status)
    if action == "reject":
        ground, note = _reject_ground(ground), _desk_note(note)
        question.reject_ground, question.reject_reason = ground, note
        detail = {"ground": ground, **({"note": note} if note else {})}
    _apply(builder, question, action, actor)
    audit(actor, action, broadcast, question, **detail)
    return builder.commit()


def edit_question(broadcast: Broadcast, question_id, text: str, *, actor: User | None, version=None) -> Change:
    """Change the wording of a question, keeping what the resident first wrote; as long as a resident's may be."""
    max_length = current_app.config["QUESTION_MAX_LENGTH"]
    question = get_question(broadcast, question_id, version)
    _refuse_if_withdrawn(question, "edit")
    text = fields.text(text, "text", max_length, required=True, required_message=_l("Please write your question."),
                       too_long=question_too_long(max_length))
    if question.status not in EDITABLE:
        raise InvalidTransition(_l("This question can no longer be edited."))
    builder = ChangeBuilder("question_edited", broadcast)
    builder.touch(question)
    if question.original_text is None:
        question.original_text = question.text
    question.text = text
    audit(actor, "edit", broadcast, question)
    return builder.commit()


def _merge_all(builder: ChangeBuilder, sources: list[Question], target: Question, actor: User | None) -> None:
    """Merge these sources into the target with a fixed number of statements, whatever their number:
    votes and askers carry over, and each merge is recorded so that it can be undone."""
    ids = [source.id for source in sources]
    builder.touch(target)
    absorbed: dict[int, list[int]] = {}
    for qid, into in db.session.execute(select(Question.id, Question.merged_into_id)
                                        .where(Question.merged_into_id.in_(ids))):
        absorbed.setdefault(into, []).append(qid)
    # One vote per voter moves (a viewer who voted for the target or for two sources counts once); the
    # others stay with their question, where an unmerge finds them again.
    first_of_voter = select(func.min(Vote.id)).where(Vote.question_id.in_(ids)).group_by(Vote.voter)
    db.session.execute(update(Vote).where(Vote.question_id.in_(ids), Vote.id.in_(first_of_voter),
                                          Vote.voter.not_in(select(Vote.voter).where(Vote.question_id == target.id)))
                       .values(question_id=target.id,
                               origin_question_id=func.coalesce(Vote.origin_question_id, Vote.question_id)),
                       execution_options={"synchronize_session": False})
    # Questions merged earlier into a source now point at the target, so no chain is left.
    db.session.execute(update(Question).where(Question.merged_into_id.in_(ids))
                       .values(merged_into_id=target.id), execution_options={"synchronize_session": False})
    db.session.execute(insert(QuestionMerge), [
        dict(broadcast_id=target.broadcast_id, source_id=source.id, target_id=target.id, source_status=source.status,
             source_position=source.position, askers=source.asker_count, absorbed=absorbed.get(source.id, []),
             actor_id=actor.id if actor else None, merged_at=utcnow()) for source in sources])
    target.asker_count += sum(source.asker_count for source in sources)
    builder.touch_all(sources, votes=0, status=S.MERGED.value, position=None, merged_into_id=target.id)
    recount_votes(target)
    appeals.on_questions_merged(sources, target, actor)


def merge_question(broadcast: Broadcast, question_id, target_id, *, actor: User | None, version=None) -> Change:
    """Merge a duplicate into another question: its votes and askers carry over."""
    source = get_question(broadcast, question_id, version)
    target = get_question(broadcast, target_id)
    if source.id == target.id:
        raise ValidationError(_l("A question cannot be merged into itself."))
    _refuse_if_withdrawn(source, "merge")
    _refuse_if_withdrawn(target, "merge")
    if source.status not in MERGEABLE_SOURCE or target.status not in MERGEABLE_TARGET:
        raise InvalidTransition(_l("These questions cannot be merged."))
    builder = ChangeBuilder("question_merged", broadcast)
    _merge_all(builder, [source], target, actor)
    audit(actor, "merge", broadcast, source, into=target.id)
    return builder.commit()


MAX_GROUP = 200


def _seen_version(question: Question, version) -> bool:
    """True when the screen saw this version of the question (or named none)."""
    if version is None:
        return True
    return parse_version(version) == question.version


def merge_group(broadcast: Broadcast, target_id, sources: list, *, actor: User | None) -> tuple[Change, list[int]]:
    """Merge a group of duplicates into one question in one transaction. `sources` are
    {"id", "version"} as the screen saw them; one that changed meanwhile, or can no longer be
    merged, is skipped (and returned), and the others are merged all the same. The statements it
    runs do not grow with the group: one read of all the sources, bulk writes for the rest."""
    target = get_question(broadcast, target_id)
    _refuse_if_withdrawn(target, "merge")
    if target.status not in MERGEABLE_TARGET:
        raise InvalidTransition(_l("These questions cannot be merged."))
    if not isinstance(sources, list) or not sources or len(sources) > MAX_GROUP:
        raise ValidationError(_l("Choose the questions to merge."))
    items = [item if isinstance(item, dict) else {} for item in sources]
    wanted = {qid for qid in (parse_id(item.get("id")) for item in items) if qid is not None}
    found = {q.id: q for q in db.session.execute(
        select(Question).where(Question.id.in_(wanted), Question.broadcast_id == broadcast.id)
        .options(joinedload(Question.appeal))).scalars()} if wanted else {}
    skipped, merging = [], {}
    for item in items:
        source = found.get(parse_id(item.get("id")))
        if source is None or not _seen_version(source, item.get("version")):
            skipped.append(source.id if source is not None else item.get("id"))
        elif (source.id == target.id or source.id in merging or source.status not in MERGEABLE_SOURCE
              or withdrawn_by_asker(source)):
            skipped.append(source.id)
        else:
            merging[source.id] = source
    if not merging:
        raise StaleVersion(_l("These questions were changed on another screen. Your screen has been refreshed."))
    builder = ChangeBuilder("question_merged", broadcast)
    _merge_all(builder, list(merging.values()), target, actor)
    audit(actor, "merge_group", broadcast, target, merged=list(merging))
    return builder.commit(), skipped


def _last_merge(source: Question) -> QuestionMerge | None:
    return db.session.execute(select(QuestionMerge).where(
        QuestionMerge.source_id == source.id, QuestionMerge.undone_at.is_(None))
        .order_by(QuestionMerge.id.desc()).limit(1)).scalar_one_or_none()


def unmerge_question(broadcast: Broadcast, question_id, *, actor: User | None, version=None) -> Change:
    """Undo the merge of one question: it goes back to the status it had, and takes back from the
    question it was merged into its votes, its askers and the questions merged into it before."""
    source = get_question(broadcast, question_id, version)
    if source.status != S.MERGED or source.merged_into_id is None:
        raise InvalidTransition(_l("This question is not merged."))
    record = _last_merge(source)
    if record is None:
        raise InvalidTransition(_l("This merge was made before merges could be undone."))
    target = get_question(broadcast, source.merged_into_id)
    if target.status == S.ANSWERED:
        raise InvalidTransition(_l("The question it was merged into has been answered on air, and its askers with it. "
                                   "Reopen that question first to undo the merge."))
    if source.appeal is not None and not source.appeal.is_open:
        raise InvalidTransition(_l("Its appeal is %(status)s: undoing the merge would change nothing for its asker.",
                                   status=appeals.status_label(source.appeal.status)))
    builder = ChangeBuilder("question_unmerged", broadcast)
    builder.touch(source)
    builder.touch(target)
    back = list(db.session.execute(select(Question.id, Question.asker_count).where(
        Question.id.in_(record.absorbed or [0]), Question.merged_into_id == target.id,
        Question.status == S.MERGED)))
    gone = sum(q.asker_count for q in db.session.execute(select(Question.asker_count).where(
        Question.id.in_(record.absorbed or [0]), Question.merged_into_id != target.id)))
    returning = [qid for qid, _askers in back]
    if returning:
        db.session.execute(update(Question).where(Question.id.in_(returning)).values(merged_into_id=source.id),
                           execution_options={"synchronize_session": False})
    db.session.execute(update(Vote).where(
        Vote.question_id == target.id, Vote.origin_question_id.in_([source.id, *returning]),
        Vote.voter.not_in(select(Vote.voter).where(Vote.question_id == source.id)))
        .values(question_id=source.id, origin_question_id=case(
            (Vote.origin_question_id == source.id, None), else_=Vote.origin_question_id)),
        execution_options={"synchronize_session": False})
    askers = max(1, source.asker_count - gone)
    source.asker_count = askers
    target.asker_count = max(1, target.asker_count - askers)
    source.status = record.source_status
    source.merged_into_id = None
    if source.status == S.QUEUED:
        source.position = _next_position(broadcast)
    record.undone_at = utcnow()
    recount_votes(source)
    recount_votes(target)
    appeals.on_question_unmerged(source, target, actor)
    audit(actor, "unmerge", broadcast, source, out_of=target.id)
    return builder.commit()


def categorize_question(broadcast: Broadcast, question_id, category_id, *, actor: User | None,
                        version=None) -> Change:
    """Set (or clear, with None) a question's staff-only category."""
    question = get_question(broadcast, question_id, version)
    _refuse_if_withdrawn(question, "categorize")
    if category_id in (None, ""):
        category = None
    else:
        cid = parse_id(category_id)
        category = db.session.get(Category, cid) if cid else None
        if category is None:
            raise NotFound(_l("This category does not exist."))
    builder = ChangeBuilder("question_categorized", broadcast)
    builder.touch(question)
    question.category_id = category.id if category else None
    question.category = category
    appeals.on_question_categorized(question, category, actor)
    audit(actor, "categorize", broadcast, question, category=question.category_id)
    return builder.commit()


def flag_follow_up(broadcast: Broadcast, question_id, on: bool, *, actor: User | None, version=None) -> Change:
    """Mark that a question answered on air still needs a written answer (its appeal stays open)."""
    question = get_question(broadcast, question_id, version)
    _refuse_if_withdrawn(question, "follow_up")
    if question.appeal is None:
        raise NotFound(_l("This appeal does not exist."))
    builder = ChangeBuilder("question_follow_up", broadcast)
    builder.touch(question)
    appeals.on_question_follow_up(question, bool(on), actor)
    audit(actor, "follow_up", broadcast, question, on=bool(on))
    return builder.commit()


def forward_immediately(broadcast: Broadcast, question_id, body, *, actor: User | None, version=None) -> Change:
    """Forward a question's appeal at once to the body named: it reports a crime being prepared or committed,
    or a threat to state or public security (a question only too). The question stays where it is on the desk."""
    question = get_question(broadcast, question_id, version)
    _refuse_if_withdrawn(question, "forward_immediately")
    if question.appeal is None:
        raise NotFound(_l("This appeal does not exist."))
    builder = ChangeBuilder("question_forwarded", broadcast)
    builder.touch(question)
    appeals.on_question_forwarded_immediately(question, body, actor)  # notes "urgent"
    return builder.commit()


def withdraw_appeal(appeal, *, actor: User | None, means: str = "web", note: str = "") -> Change | None:
    """The applicant withdraws the appeal (services.appeals.withdraw) and, in the same transaction, its
    question leaves the live desk when it still waits there: nobody can approve it, queue it or send it to
    air any more, and the public feed and the teleprompter drop it. A question that others' questions were
    merged into stays (it asks for them too), and one on air stays for the speaker to finish; the desk sees
    its appeal withdrawn either way. Returns the Change to publish, or None when the appeal has no question."""
    question = appeal.question
    change = None
    if question is not None and appeals.withdrawable(appeal):  # otherwise appeals.withdraw refuses below
        builder = ChangeBuilder("question_withdrawn", question.broadcast)
        builder.touch(question)
        shared = db.session.execute(select(func.count()).select_from(Question).where(
            Question.merged_into_id == question.id)).scalar()
        if question.status in LEAVES_DESK_ON_WITHDRAWAL and not shared:
            if question.status == S.QUEUED:
                question.position = None
            question.status = S.REJECTED.value
            question.reject_ground, question.reject_reason = WITHDRAWN, ""
            audit(actor, "withdrawn", question.broadcast, question, means=means)
        change = builder.finish()
    appeals.withdraw(appeal, actor=actor, means=means, note=note)  # validates, moves the appeal, commits
    return change


def queued_questions(broadcast: Broadcast) -> list[Question]:
    """The speaker's queue in order."""
    return list(db.session.execute(select(Question).where(
        Question.broadcast_id == broadcast.id, Question.status == S.QUEUED)
        .order_by(Question.position, Question.id)).scalars())


def reorder_queue(broadcast: Broadcast, order: list, *, actor: User | None) -> Change:
    """Put the queue in the given order; refused if the screen's queue is out of date."""
    queue = queued_questions(broadcast)
    wanted = [parse_id(i) for i in order] if isinstance(order, list) else [None]
    if None in wanted:
        raise ValidationError(_l("Invalid order."))
    if sorted(wanted) != sorted(q.id for q in queue):
        raise StaleVersion(_l("The queue was changed on another screen. Your screen has been refreshed."))
    by_id = {q.id: q for q in queue}
    builder = ChangeBuilder("queue_reordered", broadcast)
    for position, qid in enumerate(wanted, start=1):
        question = by_id[qid]
        if question.position != position:
            builder.touch(question)
            question.position = position
    audit(actor, "reorder", broadcast, order=wanted)
    return builder.commit()


def update_settings(broadcast: Broadcast, values: dict, *, actor: User | None) -> Change:
    """Change the live settings of a broadcast (pre-moderation, public feed, ...)."""
    unknown = set(values) - set(SETTINGS)
    if unknown or not all(isinstance(v, bool) for v in values.values()):
        raise ValidationError(_l("Invalid settings."))
    builder = ChangeBuilder("settings_changed", broadcast)
    for key, value in values.items():
        setattr(broadcast, key, value)
    audit(actor, "settings", broadcast, **values)
    return builder.commit(settings=True)


# a broadcast's status -> the statuses it may move to (an ended one may be scheduled again)
BROADCAST_MOVES = {BroadcastStatus.SCHEDULED: {BroadcastStatus.LIVE, BroadcastStatus.ENDED},
                   BroadcastStatus.LIVE: {BroadcastStatus.ENDED},
                   BroadcastStatus.ENDED: {BroadcastStatus.SCHEDULED}}
BROADCAST_STATUS_LABELS = {BroadcastStatus.LIVE: _l("live now"), BroadcastStatus.SCHEDULED: _l("scheduled"),
                           BroadcastStatus.ENDED: _l("ended")}


def broadcast_moves(broadcast: Broadcast) -> set[str]:
    """The statuses this broadcast may move to now (the admin page offers those buttons)."""
    return {status.value for status in BROADCAST_MOVES[BroadcastStatus(broadcast.status)]}


def set_broadcast_status(broadcast: Broadcast, status: str, *, actor: User | None) -> Change:
    """Start (go live) or end a broadcast, or schedule an ended one again (BROADCAST_MOVES)."""
    target = BroadcastStatus(status)
    if target.value not in broadcast_moves(broadcast):
        raise InvalidTransition(_l("The broadcast cannot go from %(a)s to %(b)s.", a=broadcast.status, b=target.value))
    builder = ChangeBuilder("broadcast_" + {"live": "started", "ended": "ended", "scheduled": "rescheduled"}[target.value],
                            broadcast)
    broadcast.status = target.value
    if target == BroadcastStatus.LIVE:
        broadcast.started_at = utcnow()
    elif target == BroadcastStatus.ENDED:
        broadcast.ended_at = utcnow()
        audience.forget(broadcast)
        if broadcast.started_at is not None:  # a broadcast called off before it started has no report to send
            report_mail.enqueue_report(broadcast)  # sent by the serving process's mailer, after this commits
    audit(actor, "broadcast_" + target.value, broadcast)
    return builder.commit(settings=True)
