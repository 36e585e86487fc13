"""Taking questions in: validation, idempotent submit, tracking codes, votes."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db
from ..config import FALLBACK_LANGUAGE
from ..models import LANGUAGES, Broadcast, Channel, Question, QuestionStatus, Vote, utcnow
from . import appeals, blocking, limits, privacy
from .audit import audit
from ..permissions import audience_may_vote, audience_sees
from .changes import Change, ChangeBuilder
from ..errors import InvalidTransition, NotFound, QuestionsClosed, ServiceError, ValidationError
from .fields import (UNSTORABLE_MESSAGE, Limit, at_most_characters, name_limit, normalise_contact, parse_id,
                     question_too_long, storable, valid_client_id)
from .language import detect_language



# Statements of the hot paths (every socket event reads its broadcast), built once: building one
# and its cache key cost more than running it (a reconnecting viewer's state took four).
_BROADCAST_BY_SLUG = select(Broadcast).where(Broadcast.slug == bindparam("slug"))
_VOTED_IDS = (select(Vote.question_id).join(Question, Question.id == Vote.question_id)
              .where(Question.broadcast_id == bindparam("broadcast_id"), Vote.voter == bindparam("voter")))


def get_broadcast(slug: str) -> Broadcast:
    """The broadcast with this slug, or NotFound."""
    broadcast = db.session.execute(_BROADCAST_BY_SLUG, {"slug": slug}).scalar_one_or_none()
    if broadcast is None:
        raise NotFound(_l("There is no broadcast at this address."))
    return broadcast


def find_by_client_id(broadcast: Broadcast, client_scope: str, client_id: str) -> Question | None:
    """The question this sender already stored under this client_id, if any (never another sender's)."""
    return db.session.execute(select(Question).where(
        Question.broadcast_id == broadcast.id, Question.client_scope == client_scope,
        Question.client_id == client_id).options(joinedload(Question.appeal))).scalar_one_or_none()


def sender_scope(*, api_key=None, actor=None, viewer_token: str | None = None, source: str = "") -> str:
    """Whose idempotency keys a submission's client_id belongs to: an integrator's key, a staff member,
    a viewer (signed cookie), else the sending address; a client_id repeats only within its scope."""
    if api_key is not None:
        return f"k:{api_key.id}"
    if actor is not None and getattr(actor, "id", None) is not None:
        return f"u:{actor.id}"
    if viewer_token:
        return f"v:{viewer_token}"
    return f"a:{source}" if source else ""


def _text(data: dict, key: str) -> str:
    value = data.get(key) or ""
    if not isinstance(value, str):
        return ""
    return value.strip()


def validate_submission(broadcast: Broadcast | None, data: dict, default_language: str) -> dict:
    """Clean the submitted fields or raise ValidationError naming every bad field (without a broadcast,
    a call an operator takes for the back office, a question may be anonymous)."""
    cfg = current_app.config
    errors: dict = {}
    text = _text(data, "text")
    if not text:
        errors["text"] = _l("Please write your question.")
    elif len(text) > cfg["QUESTION_MAX_LENGTH"]:
        errors["text"] = question_too_long(cfg["QUESTION_MAX_LENGTH"])
    name = _text(data, "author_name")
    district = _text(data, "district")
    longest = name_limit(cfg)
    for key, value in (("author_name", name), ("district", district)):
        if len(value) > longest:
            errors[key] = at_most_characters(longest)
    if not name and broadcast is not None and not broadcast.anonymous_allowed:
        errors["author_name"] = _l("Please give your name: this broadcast does not take anonymous questions.")
    contact = _text(data, "contact")
    consent = privacy.given(data.get("consent"))
    if contact:
        try:
            contact = normalise_contact(contact, cfg["PHONE_REGION"])
        except ValueError as exc:
            errors["contact"] = exc.args[0]
        else:
            if len(contact) > Limit.CONTACT:  # an e-mail address may be longer than the column
                errors["contact"] = at_most_characters(Limit.CONTACT)
    # a name is personal data too (Law on personal data, art. 7-8): kept only with consent; a district alone is not
    if (name or contact) and not consent and "contact" not in errors:
        errors["consent"] = _l("Please agree to the processing of your personal data, or leave your name and contact empty.")
    for key in ("text", "author_name", "district", "contact"):
        if data.get(key) and not storable(data.get(key)):
            errors[key] = UNSTORABLE_MESSAGE
    # the language the sender chose (the viewer form sends its page's) is the appeal's; detection is
    # only a hint for channels that send none; else the interface language
    language = data.get("language") or detect_language(text) or default_language
    if not isinstance(language, str) or language not in LANGUAGES:
        errors["language"] = _l("Unknown language.")
    if errors:
        raise ValidationError(fields=errors)
    return {"text": text, "author_name": name, "district": district, "contact": contact,
            "contact_consent": bool(contact) and consent, "language": language,
            "show_name": bool(name or district) and privacy.given(data.get("show_name")),
            **privacy.consent_fields(consent, bool(name or district or contact), Channel.WEB)}


@dataclass
class Submission:
    """A validated new question, not yet stored: `store_submissions` stores a batch of them at once."""

    broadcast: Broadcast
    client_id: str
    fields: dict
    channel: str
    approved: bool = False  # by staff: skips pre-moderation
    viewer_token: str | None = None
    source: str = ""
    actor: object = None
    rate_limited: bool = True
    client_scope: str = ""
    origin: dict | None = None  # an import's system, number and time of receipt (appeals.origin_fields)
    # called with the new question (its appeal registered) before the batch commits: what a channel
    # stores with it (its update's record, the reply in the outbox) is in the same transaction
    on_stored: Callable[[Question], None] | None = None

    def appeal_origin(self) -> dict:
        """What the appeal keeps of where it came from, and who accepted it (the staff member who typed it in)."""
        origin = dict(self.origin or {})
        if getattr(self.actor, "id", None) is not None:
            origin["accepted_by_id"] = self.actor.id
        return origin


def prepare_submission(broadcast: Broadcast, data: dict, *, channel: str = Channel.WEB,
                       viewer_token: str | None = None, default_language: str = FALLBACK_LANGUAGE, approved: bool = False,
                       actor=None, source: str = "", rate_limited: bool = True, api_key=None,
                       channel_contact: str = "", caller: str = "") -> Submission | Question:
    """Check a submitted question: the Question this sender already stored under its client_id (a retry),
    or a Submission to store; ValidationError naming every bad field, QuestionsClosed when the broadcast
    takes no questions. `channel_contact` is a contact the channel itself vouches for (a Telegram chat
    whose owner gave consent), kept as the answer's address instead of a typed phone or e-mail. `caller`: the
    number a phone operator typed (checked against the blocked senders even when it is not kept).
    Blocking.Blocked when the sender is blocked, on whichever identity."""
    client_id = data.get("client_id") or uuid.uuid4().hex
    if not valid_client_id(client_id):
        raise ValidationError(fields={"client_id": _l("Invalid client id.")})
    typed = data.get("contact") if isinstance(data.get("contact"), str) else ""
    blocking.refuse_blocked([blocking.token_identity(viewer_token), blocking.contact_identity(typed),
                             blocking.contact_identity(channel_contact), blocking.contact_identity(caller)])
    scope = sender_scope(api_key=api_key, actor=actor, viewer_token=viewer_token, source=source)
    try:
        if not broadcast.accepting_questions:
            raise QuestionsClosed()
        fields, origin = _checked(broadcast, data, default_language, channel, api_key)
        if fields["consent_form"]:
            fields["consent_form"] = privacy.CONSENT_FORMS.get(str(channel), fields["consent_form"])
        if channel_contact and fields["consent_form"]:
            fields["contact"], fields["contact_consent"] = channel_contact, True
    except (QuestionsClosed, ValidationError):
        # a retry of a stored question is answered with it, even once questions are closed; a new
        # question's client_id is looked up in the batch it is stored with (one query per batch)
        existing = find_by_client_id(broadcast, scope, client_id)
        if existing is not None:
            return existing
        raise
    return Submission(broadcast=broadcast, client_id=client_id, fields=fields, approved=approved,
                      channel=str(channel), viewer_token=viewer_token, source=source, actor=actor,
                      rate_limited=rate_limited, client_scope=scope, origin=origin)


def _checked(broadcast: Broadcast, data: dict, default_language: str, channel: str, api_key) -> tuple[dict, dict]:
    """The question's fields and, from another system (the JSON API), where it comes from; every bad field named."""
    errors: dict = {}
    fields, origin = {}, {}
    checks = [(lambda: validate_submission(broadcast, data, default_language), fields)]
    if str(channel) in (Channel.API, Channel.OPEN311):
        checks.append((lambda: appeals.origin_fields(data, api_key), origin))
        if api_key is not None:  # which integrator sent it: the 109 centre and e-Otinish are told apart
            origin["api_key_id"] = api_key.id
    for check, into in checks:
        try:
            into.update(check())
        except ValidationError as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationError(fields=errors)
    return fields, origin


# Which of a batch's client_ids are stored already, by the batch's senders (matched to each one's scope
# below): built once (the writer runs it per batch). The scopes are named so that the lookup runs on
# the unique index (broadcast, scope, client_id); by client_id alone it read every question of the
# broadcast, a cost that grew with the broadcast (a tenth of the writer's time at 8,000 questions).
# With its appeal: the sender's acknowledgement carries the access code, and is made after the
# writer's session has let the question go. (Built on first use: Question.appeal is a backref.)
@cache
def _stored_statement():
    return (select(Question).where(Question.broadcast_id == bindparam("broadcast_id"),
                                   Question.client_scope.in_(bindparam("scopes", expanding=True)),
                                   Question.client_id.in_(bindparam("client_ids", expanding=True)))
            .options(joinedload(Question.appeal)))


def store_submissions(submissions: list[Submission]) -> tuple[list[tuple[Question, bool] | ServiceError], list[Change]]:
    """Store a batch of submissions in one transaction (one commit, one version bump per broadcast).

    Returns, in order, (question, created) or the refusal (RateLimited, or QuestionsClosed when the
    broadcast stopped taking questions since the check) of each submission, and the Changes to
    publish. Pre-moderation is read from the broadcast now. A client_id its sender already stored, or
    repeated by that sender within the batch, is answered with that one question. Counts against the rate limits include the
    batch's own questions. The broadcasts must belong to this session. Raises IntegrityError when
    another process stored one of the client_ids meanwhile (the caller then stores them one by one)."""
    outcomes: list = [None] * len(submissions)
    stored: dict[tuple[int, str, str], Question | None] = {}
    for broadcast_id in {s.broadcast.id for s in submissions}:
        mine = [s for s in submissions if s.broadcast.id == broadcast_id]
        for q in db.session.scalars(_stored_statement(), {"broadcast_id": broadcast_id,
                                                          "scopes": sorted({s.client_scope for s in mine}),
                                                          "client_ids": [s.client_id for s in mine]}):
            stored[(broadcast_id, q.client_scope, q.client_id)] = q
    limited = [s for s in submissions if s.rate_limited]
    allowance = limits.QuestionAllowance([s.viewer_token for s in limited], [s.source for s in limited]) if limited else None
    new: list[int] = []  # the submissions to insert, by index
    rows: list[dict] = []
    for i, sub in enumerate(submissions):
        key = (sub.broadcast.id, sub.client_scope, sub.client_id)
        if key in stored:  # stored before; or new earlier in this batch (None until inserted: filled in below)
            if stored[key] is not None:
                outcomes[i] = (stored[key], False)
            continue
        if not sub.broadcast.accepting_questions:  # closed since the submission was checked
            outcomes[i] = QuestionsClosed()
            continue
        if sub.rate_limited:
            try:
                allowance.take(sub.viewer_token, sub.source)
            except limits.RateLimited as exc:
                outcomes[i] = exc
                continue
        stored[key] = None  # a later copy of this client_id in the batch names this question
        new.append(i)
        rows.append(dict(broadcast_id=sub.broadcast.id, client_id=sub.client_id, client_scope=sub.client_scope,
                         viewer_token=sub.viewer_token,
                         source_hash=sub.source, channel=sub.channel, status=_status(sub).value,
                         created_at=utcnow(), **sub.fields))
    if not new:  # nothing to write (the read transaction ends with the caller's session)
        return _with_repeats(outcomes, submissions, stored), []
    # One INSERT ... RETURNING for all (the unit of work's per-object bookkeeping cost more than the
    # SQL). The rows come back in no set order (asking for the parameters' order makes SQLite insert
    # them one statement each): each is matched to its submission by its unique sender and client_id.
    for question in db.session.scalars(insert(Question).returning(Question), rows):
        stored[(question.broadcast_id, question.client_scope, question.client_id)] = question
    questions = [stored[(submissions[i].broadcast.id, submissions[i].client_scope, submissions[i].client_id)]
                 for i in new]
    appeals.register_questions(questions, [submissions[i].appeal_origin() for i in new])
    for i, question in zip(new, questions):
        if submissions[i].on_stored is not None:
            submissions[i].on_stored(question)
    builders: dict[int, ChangeBuilder] = {}
    for i, question in zip(new, questions):
        sub = submissions[i]
        outcomes[i] = (question, True)
        builders.setdefault(sub.broadcast.id, ChangeBuilder("question_submitted", sub.broadcast)).add_new(question)
        if sub.actor is not None:
            audit(sub.actor, "add_question", sub.broadcast, question, channel=sub.channel)
    changes = [builder.finish() for builder in builders.values()]
    db.session.commit()
    return _with_repeats(outcomes, submissions, stored), changes


def _status(submission: Submission) -> QuestionStatus:
    """A new question's status, by the broadcast's pre-moderation setting at the time it is stored."""
    if submission.approved or not submission.broadcast.pre_moderation:
        return QuestionStatus.APPROVED
    return QuestionStatus.PENDING


def _with_repeats(outcomes: list, submissions: list[Submission], stored: dict) -> list:
    """Fill in the outcome of each client_id repeated within a batch: the question its first copy names."""
    return [o if o is not None else (stored[(s.broadcast.id, s.client_scope, s.client_id)], False)
            for o, s in zip(outcomes, submissions)]


def submit_question(broadcast: Broadcast, data: dict, **options) -> tuple[Question, Change | None]:
    """Store a question once per sender and client_id; return it and the Change (None when it already existed).

    A repeated client_id is answered with the stored question before any limit is counted, so a
    retry is never refused; new questions count against the per-viewer and per-address limits.
    Options as for `prepare_submission`."""
    prepared = prepare_submission(broadcast, data, **options)
    if isinstance(prepared, Question):
        return prepared, None
    return store_one(prepared)


def store_one(submission: Submission) -> tuple[Question, Change | None]:
    """Store one submission in its own transaction; (question, Change or None), or raise its refusal."""
    try:
        (outcome,), changes = store_submissions([submission])
    except IntegrityError:
        # Another request with the same client_id won the race: answer with its row.
        db.session.rollback()
        existing = find_by_client_id(submission.broadcast, submission.client_scope, submission.client_id)
        if existing is None:
            raise
        return existing, None
    if isinstance(outcome, ServiceError):
        raise outcome
    question, created = outcome
    return question, (changes[0] if created else None)


@dataclass
class Ballot:
    """One viewer's vote (or withdrawal) on one question, to store with `store_votes`."""

    broadcast: Broadcast
    question_id: object
    voter: str
    up: bool = True


def _insert_vote_once(question_id: int, voter: str) -> bool:
    """Insert a vote unless this voter already voted for this question; True when inserted."""
    dialect = db.engine.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(Vote).values(question_id=question_id, voter=voter, created_at=utcnow()).on_conflict_do_nothing()
    return db.session.execute(stmt).rowcount == 1


def store_votes(ballots: list[Ballot]) -> tuple[list[Question | ServiceError], list[Question]]:
    """Store a batch of votes in one transaction; repeated votes count once, a withdrawal of no vote is moot.

    Returns, in order, each ballot's question (with its new count) or its refusal (NotFound for a
    question the voter cannot see, InvalidTransition when voting on it is closed, RateLimited), and
    the questions whose counts changed. The broadcasts must belong to this session."""
    def valid(qid) -> bool:
        return not isinstance(qid, str) and parse_id(qid) is not None  # an int id (not "5", not True), within 63 bits
    ids = {b.question_id for b in ballots if valid(b.question_id)}
    questions = {q.id: q for q in db.session.execute(select(Question).where(Question.id.in_(ids))).scalars()} if ids else {}
    allowance = limits.VoteAllowance([b.voter for b in ballots if b.up])
    outcomes: list = []
    deltas: dict[int, int] = {}
    for ballot in ballots:
        question = questions.get(ballot.question_id) if valid(ballot.question_id) else None
        if question is None or question.broadcast_id != ballot.broadcast.id or not audience_sees(question, ballot.broadcast):
            outcomes.append(NotFound(_l("This question is not available.")))
            continue
        if not audience_may_vote(question):
            outcomes.append(InvalidTransition(_l("Voting on this question is closed.")))
            continue
        if ballot.up:
            try:
                allowance.take(ballot.voter)
            except limits.RateLimited as exc:
                outcomes.append(exc)
                continue
            if _insert_vote_once(question.id, ballot.voter):
                deltas[question.id] = deltas.get(question.id, 0) + 1
        elif db.session.execute(delete(Vote).where(Vote.question_id == question.id, Vote.voter == ballot.voter)).rowcount:
            deltas[question.id] = deltas.get(question.id, 0) - 1
        outcomes.append(question)
    changed = [questions[qid] for qid, delta in deltas.items() if delta]
    for question in changed:
        db.session.execute(update(Question).where(Question.id == question.id)
                           .values(votes=Question.votes + deltas[question.id]),
                           execution_options={"synchronize_session": False})
    db.session.commit()
    if changed:  # the counts as committed (other processes may have voted too)
        counts = dict(db.session.execute(select(Question.id, Question.votes).where(
            Question.id.in_([q.id for q in changed]))).all())
        for question in changed:
            set_committed_value(question, "votes", counts[question.id])
    return outcomes, changed


def cast_vote(broadcast: Broadcast, question_id: int, voter: str, up: bool = True) -> Question:
    """Add (or withdraw) one viewer's vote; repeated votes count once. Returns the question."""
    (outcome,), _changed = store_votes([Ballot(broadcast, question_id, voter, up)])
    if isinstance(outcome, ServiceError):
        raise outcome
    return outcome


def voted_ids(broadcast: Broadcast, voter: str | None) -> list[int]:
    """Ids of this broadcast's questions the viewer has voted for."""
    if not voter:
        return []
    return list(db.session.execute(_VOTED_IDS, {"broadcast_id": broadcast.id, "voter": voter}).scalars())


def recount_votes(question: Question) -> int:
    """Recompute the vote count from the Vote rows (after a merge)."""
    question.votes = db.session.execute(
        select(func.count()).select_from(Vote).where(Vote.question_id == question.id)).scalar_one()
    return question.votes

