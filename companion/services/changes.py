"""What a service changed: the realtime layer turns a Change into versioned events."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db
from ..models import Broadcast, Question, utcnow
from ..permissions import audience_sees
from .database import kept_on_commit
from .outbox import take_noted


@dataclass
class Change:
    """The outcome of one service call, committed as one transaction."""

    event: str
    broadcast: Broadcast
    questions: list[Question] = field(default_factory=list)
    public: bool = False
    # ids of questions that were visible to the audience before the change
    was_visible: set[int] = field(default_factory=set)
    settings: bool = False
    # the backstage state (messages, countdown) changed: moderators and the teleprompter get it
    backstage: bool = False
    # the status each touched question had before (a question the call created has none): the desk keeps
    # its columns' counts from these, whether or not it holds the question
    before: dict[int, str] = field(default_factory=dict)
    # the notices to applicants the change wrote (outbox.Notice: sent by a chat or by e-mail, or owed by hand)
    notices: list = field(default_factory=list)

    @property
    def question(self) -> Question:
        """The first (usually only) question the change touched."""
        return self.questions[0]


def bump_versions(broadcast: Broadcast, public: bool) -> None:
    """Take the next broadcast version (and public version) inside the current transaction."""
    values = {"version": Broadcast.version + 1}
    if public:
        values["public_version"] = Broadcast.public_version + 1
    stmt = (update(Broadcast).where(Broadcast.id == broadcast.id).values(**values)
            .returning(Broadcast.version, Broadcast.public_version))
    version, public_version = db.session.execute(stmt, execution_options={"synchronize_session": False}).one()
    set_committed_value(broadcast, "version", version)
    set_committed_value(broadcast, "public_version", public_version)


class ChangeBuilder:
    """Collects questions touched by a service call, noting what the audience saw before."""

    def __init__(self, event: str, broadcast: Broadcast):
        self.change = Change(event=event, broadcast=broadcast)

    def touch(self, question: Question) -> Question:
        """Remember `question` as changed; call before mutating it."""
        if question not in self.change.questions:
            if audience_sees(question, self.change.broadcast):
                self.change.was_visible.add(question.id)
            self.change.questions.append(question)
            self.change.before[question.id] = question.status
            question.version += 1
            question.updated_at = utcnow()
        return question

    def touch_all(self, questions: list[Question], **values) -> None:
        """Remember many questions as changed and write the same `values` to all of them with one
        UPDATE, versions bumped; the objects are kept in step without the unit of work's per-row
        bookkeeping (a 200-question group merge spent most of its time there)."""
        now = utcnow()
        for question in questions:
            if audience_sees(question, self.change.broadcast):
                self.change.was_visible.add(question.id)
            self.change.before[question.id] = question.status
        self.change.questions.extend(questions)
        db.session.execute(update(Question).where(Question.id.in_([q.id for q in questions]))
                           .values(version=Question.version + 1, updated_at=now, **values),
                           execution_options={"synchronize_session": False})
        for question in questions:
            set_committed_value(question, "version", question.version + 1)
            set_committed_value(question, "updated_at", now)
            for key, value in values.items():
                set_committed_value(question, key, value)

    def add_new(self, question: Question) -> Question:
        """Remember a question that this call created."""
        self.change.questions.append(question)
        return question

    def finish(self, *, settings: bool = False, backstage: bool = False) -> Change:
        """Flush and bump the versions inside the current transaction (the caller commits); return the Change."""
        change = self.change
        change.settings = settings
        change.backstage = backstage
        change.public = settings or bool(change.was_visible) or any(
            audience_sees(q, change.broadcast) for q in change.questions)
        db.session.flush()
        bump_versions(change.broadcast, change.public)
        return change

    def commit(self, *, settings: bool = False, backstage: bool = False) -> Change:
        """Bump versions, commit, and return the Change.

        The commit leaves the objects as this transaction made them (not expired): the screens'
        payloads are made from them with no query to read back what was just written. What the
        flush itself expired is still read again, in one query (`desk.reload_changed`); a session
        lasts one request or event, so nothing stale outlives it."""
        change = self.finish(settings=settings, backstage=backstage)
        with kept_on_commit():
            db.session.commit()
        change.notices = take_noted()
        return change
