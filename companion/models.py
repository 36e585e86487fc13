"""Database models (SQLAlchemy 2.x, Mapped[...] columns) and their small invariants."""
from __future__ import annotations

import enum
import secrets
from datetime import date, datetime, timezone

from flask_login import UserMixin
from sqlalchemy import (JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy import and_, or_
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.sql.expression import false as sa_false, true
from sqlalchemy.types import TypeDecorator
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from . import config
from .extensions import db


ACCESS_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper and typed
ACCESS_CODE_LENGTH = 16  # 16 * log2(31) = 79 bits


def new_access_code() -> str:
    """A fresh, unguessable access code of an appeal (79 bits from the secrets module): one uniform number
    below 31^16, written in the alphabet's 31 letters (a draw per letter cost a tenth of the group commit)."""
    number, letters = secrets.randbelow(_ACCESS_CODES), []
    for _ in range(ACCESS_CODE_LENGTH):
        number, digit = divmod(number, len(ACCESS_CODE_ALPHABET))
        letters.append(ACCESS_CODE_ALPHABET[digit])
    return "".join(letters)


_ACCESS_CODES = len(ACCESS_CODE_ALPHABET) ** ACCESS_CODE_LENGTH


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            value = (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def utcnow() -> datetime:
    """Timezone-aware now in UTC."""
    return datetime.now(timezone.utc)


class StrEnum(str, enum.Enum):
    """An enum whose values are stored as plain strings."""

    def __str__(self) -> str:
        return self.value


class BroadcastStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


class QuestionStatus(StrEnum):
    SUBMITTED = "submitted"
    PENDING = "pending"
    APPROVED = "approved"
    QUEUED = "queued"
    ON_AIR = "on_air"
    ANSWERED = "answered"
    DEFERRED = "deferred"
    REJECTED = "rejected"
    MERGED = "merged"


# A question still in play on the desk: it may take a merge, and it belongs in a group of likely duplicates
# (the desk is told per question: presenters.staff_question's "open"); merged into it may be only those
# not yet asked (MERGEABLE).
# asked, and not yet read by a moderator (the reports count them apart)
UNMODERATED_QUESTION_STATUSES = frozenset({QuestionStatus.SUBMITTED, QuestionStatus.PENDING})
OPEN_QUESTION_STATUSES = frozenset({QuestionStatus.PENDING, QuestionStatus.APPROVED, QuestionStatus.QUEUED,
                                    QuestionStatus.ON_AIR, QuestionStatus.DEFERRED, QuestionStatus.ANSWERED})
MERGEABLE_QUESTION_STATUSES = frozenset({QuestionStatus.PENDING, QuestionStatus.APPROVED, QuestionStatus.QUEUED,
                                         QuestionStatus.DEFERRED})


class Channel(StrEnum):
    WEB = "web"
    PHONE = "phone"
    API = "api"
    OPEN311 = "open311"
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"


class AppealStatus(StrEnum):
    REGISTERED = "registered"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    EXTENDED = "extended"
    ANSWERED = "answered"
    ANSWERED_ON_AIR = "answered_on_air"
    CLOSED = "closed"
    FORWARDED = "forwarded"
    LEFT_WITHOUT_CONSIDERATION = "left_without_consideration"
    WITHDRAWN = "withdrawn"


# An appeal is finished (no deadline runs) in these statuses; answered_on_air is open only with follow-up.
FINISHED_APPEAL_STATUSES = frozenset({AppealStatus.ANSWERED, AppealStatus.CLOSED, AppealStatus.FORWARDED,
                                      AppealStatus.LEFT_WITHOUT_CONSIDERATION, AppealStatus.WITHDRAWN})


def appeal_open(status: str | None, follow_up: bool | None) -> bool:
    """The rule of an open appeal (it still waits for its answer), for an appeal or a plain row of its
    status and follow-up flag; Appeal.is_open is this rule in Python and in SQL."""
    if status == AppealStatus.ANSWERED_ON_AIR:
        return bool(follow_up)
    return status is not None and status not in FINISHED_APPEAL_STATUSES


class AppealType(StrEnum):
    """The type of an appeal in the Prosecutor General's registration rules."""

    STATEMENT = "statement"  # заявление / өтініш
    COMPLAINT = "complaint"  # жалоба / шағым
    PROPOSAL = "proposal"  # предложение / ұсыныс
    RESPONSE = "response"  # отклик / пікір
    REQUEST = "request"  # запрос / сұрау салу


class AppealForm(StrEnum):
    """The form in which an appeal came: said aloud (a phone call), on paper, or electronically."""

    ORAL = "oral"
    WRITTEN = "written"
    ELECTRONIC = "electronic"


class Role(StrEnum):
    ADMIN = "admin"
    MODERATOR = "moderator"
    SPEAKER = "speaker"
    OFFICER = "officer"
    # the head of the office or a deputy: decides extensions (APPK art. 76(2)), sees every appeal
    HEAD = "head"
    # a phone operator on the akim's published number (city 109 style): takes calls, reads statuses back;
    # sees only the appeals found by the caller's number or by a tracking number, never the back office's list
    OPERATOR = "operator"


LANGUAGES = config.LANGUAGES  # importers of the models find it here too


class Broadcast(db.Model):
    """One live meeting of the akim with residents, and its settings."""

    __tablename__ = "broadcast"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title_kk: Mapped[str] = mapped_column(String(200), default="")
    title_ru: Mapped[str] = mapped_column(String(200), default="")
    title_en: Mapped[str] = mapped_column(String(200), default="")
    stream_url: Mapped[str] = mapped_column(String(500), default="")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default=BroadcastStatus.SCHEDULED.value)
    pre_moderation: Mapped[bool] = mapped_column(Boolean, default=True)
    public_feed: Mapped[bool] = mapped_column(Boolean, default=True)
    anonymous_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    questions_open: Mapped[bool] = mapped_column(Boolean, default=True)
    show_asker: Mapped[bool] = mapped_column(Boolean, default=True)
    # the director's emergency switch: the overlay shows nothing, whatever is on air
    overlay_cleared: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # Every change bumps `version` (staff screens); changes the audience can see also bump
    # `public_version`, so viewers detect gaps without being told about hidden questions.
    version: Mapped[int] = mapped_column(Integer, default=0)
    public_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # a moderator-set countdown for the question on air, shown on the teleprompter
    countdown_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the secret in the OBS/vMix overlay's address; a moderator can rotate it
    overlay_key: Mapped[str] = mapped_column(String(43), default=lambda: secrets.token_urlsafe(24),
                                             server_default="")
    # the most viewers connected at once while live, summed over every serving process, and when
    # (services/audience.py records it from each process's count)
    peak_viewers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    peak_viewers_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # who gets the broadcast's report by e-mail when it ends: one address a line, optionally followed by
    # the report's language ("head@akimat.kz ru"); services/report_mail.py parses and checks it
    report_recipients: Mapped[str] = mapped_column(Text, default="", server_default="")

    def title(self, locale: str) -> str:
        """The title in `locale`, falling back to the other languages."""
        for lang in config.in_fallback_order(locale):
            value = getattr(self, f"title_{lang}", "")
            if value:
                return value
        return self.slug

    @property
    def accepting_questions(self) -> bool:
        """True when residents may submit questions now."""
        return self.questions_open and self.status != BroadcastStatus.ENDED


class Named:
    """A row named in Kazakh, Russian and English."""

    def name(self, locale: str) -> str:
        """The name in `locale`, falling back to the other languages."""
        for lang in config.in_fallback_order(locale):
            value = getattr(self, f"name_{lang}", "")
            if value:
                return value
        return ""


class Department(Named, db.Model):
    """A department of the district office that answers appeals."""

    __tablename__ = "department"
    id: Mapped[int] = mapped_column(primary_key=True)
    name_kk: Mapped[str] = mapped_column(String(150))
    name_ru: Mapped[str] = mapped_column(String(150))
    name_en: Mapped[str] = mapped_column(String(150))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class Category(Named, db.Model):
    """A topic of questions and appeals (staff set it), named in three languages, routed to a department."""

    __tablename__ = "category"
    id: Mapped[int] = mapped_column(primary_key=True)
    name_kk: Mapped[str] = mapped_column(String(100))
    name_ru: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    # words and phrases in any of the three languages, one per line: a question that uses them is
    # suggested this category on the desk (services/similarity.py)
    keywords: Mapped[str] = mapped_column(Text, default="", server_default="")

    department: Mapped[Department | None] = relationship()


class Topic(Named, db.Model):
    """A topic tag beyond the single category (roads, lighting, heating): named in three languages, with keyword
    rules that suggest it for an appeal (services/topics.py); an appeal may have several. Switched off, it is
    suggested no more, and what staff confirmed stays."""

    __tablename__ = "topic"
    id: Mapped[int] = mapped_column(primary_key=True)
    name_kk: Mapped[str] = mapped_column(String(100))
    name_ru: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    # one word or phrase a line, in any of the three languages; matched after the similarity's normalisation
    keywords: Mapped[str] = mapped_column(Text, default="", server_default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # each save takes the next version: the serving processes see the rules changed by the sum of versions
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Question(db.Model):
    """A resident's question; also the seed of the follow-up appeal (tracking code)."""

    __tablename__ = "question"
    __table_args__ = (
        # a client_id is an idempotency key of one sender (viewer, API key, address): another sender's
        # copy of it is a new question, never a way to read theirs
        UniqueConstraint("broadcast_id", "client_scope", "client_id", name="uq_question_client"),
        # the screens read a broadcast's questions by status; the desk's pages in id order (services/desk.py)
        Index("ix_question_broadcast_status_id", "broadcast_id", "status", "id"),
        # rate limits count one sender's questions of the last minute: a range, not every row it ever sent
        Index("ix_question_viewer_recent", "viewer_token", "created_at"),
        Index("ix_question_source_recent", "source_hash", "created_at"),
        # the duplicate index reads what changed since it last looked (services/similarity.py)
        Index("ix_question_broadcast_updated", "broadcast_id", "updated_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcast.id"))
    tracking_code: Mapped[str | None] = mapped_column(String(40), unique=True)
    text: Mapped[str] = mapped_column(Text)
    original_text: Mapped[str | None] = mapped_column(Text)
    author_name: Mapped[str] = mapped_column(String(120), default="")
    district: Mapped[str] = mapped_column(String(120), default="")
    contact: Mapped[str] = mapped_column(String(200), default="")
    contact_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    # the consent to the processing of personal data (services/privacy.py): the text's version, when,
    # and how ("web", "oral" to the phone operator, "api" declared by the sending system)
    consent_version: Mapped[str] = mapped_column(String(20), default="", server_default="")
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consent_form: Mapped[str] = mapped_column(String(8), default="", server_default="")
    # the asker's separate opt-in to have the name and district shown on air and on public screens
    show_name: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    language: Mapped[str] = mapped_column(String(2), default=config.FALLBACK_LANGUAGE)
    channel: Mapped[str] = mapped_column(String(8), default=Channel.WEB.value)
    client_id: Mapped[str] = mapped_column(String(64))
    # who chose client_id: "v:<viewer token>", "k:<api key id>", "u:<staff id>" or "a:<address hash>"
    client_scope: Mapped[str] = mapped_column(String(80), default="", server_default="")
    viewer_token: Mapped[str | None] = mapped_column(String(64))
    # keyed hash of the sender's IP address, for the per-address rate limit (the address is not kept)
    source_hash: Mapped[str] = mapped_column(String(16), default="")
    status: Mapped[str] = mapped_column(String(16), default=QuestionStatus.SUBMITTED.value)
    position: Mapped[int | None] = mapped_column(Integer)
    votes: Mapped[int] = mapped_column(Integer, default=0)
    asker_count: Mapped[int] = mapped_column(Integer, default=1)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("question.id"), index=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"))
    # the ground of a rejection on the desk (services.moderation.REJECT_GROUNDS); reject_reason is
    # the moderator's own wording, an internal note for staff only
    reject_ground: Mapped[str] = mapped_column(String(24), default="", server_default="")
    reject_reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    aired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)
    # an UPDATE of the row names the version it was read at (set by the services, +1 a change): a write from a
    # screen that saw an older version meanwhile changes nothing and is refused (services.database.resilient)
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}

    broadcast: Mapped[Broadcast] = relationship()
    category: Mapped[Category | None] = relationship()
    merged_into: Mapped["Question | None"] = relationship(remote_side=[id])


class Vote(db.Model):
    """One upvote by one viewer (signed cookie token) for one question."""

    __tablename__ = "vote"
    __table_args__ = (UniqueConstraint("question_id", "voter", name="uq_vote_voter"),
                      Index("ix_vote_voter_recent", "voter", "created_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("question.id"))  # leads the unique index below
    voter: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # the question the viewer voted for, set when a merge moves the vote (an unmerge takes it back)
    origin_question_id: Mapped[int | None] = mapped_column(Integer)


class QuestionMerge(db.Model):
    """One merge of a question into another, with what it carried, so that it can be undone."""

    __tablename__ = "question_merge"
    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcast.id"))
    source_id: Mapped[int] = mapped_column(ForeignKey("question.id"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("question.id"), index=True)
    # the source's status and queue place before the merge, and the askers it carried
    source_status: Mapped[str] = mapped_column(String(16))
    source_position: Mapped[int | None] = mapped_column(Integer)
    askers: Mapped[int] = mapped_column(Integer, default=1)
    # questions merged into the source earlier, which the merge pointed at the target
    absorbed: Mapped[list] = mapped_column(JSON, default=list)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class User(UserMixin, db.Model):
    """A staff account: admin, moderator, speaker or appeals officer."""

    __tablename__ = "user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120), default="")
    # the post held, printed on the talon of an appeal this person accepted (a phone call)
    position: Mapped[str] = mapped_column(String(200), default="", server_default="")
    password_hash: Mapped[str] = mapped_column(String(256))  # made and checked by services/passwords.py
    role: Mapped[str] = mapped_column(String(16), default=Role.MODERATOR.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # an appeals officer works on the appeals of one department
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))

    department: Mapped[Department | None] = relationship()

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active


class LoginThrottle(db.Model):
    """Wrong passwords for one typed username from one address: how many in a row, and until when that pair waits.

    Keyed by the pair, never by the account alone, so that guesses from one address cannot lock the
    account's owner out elsewhere; unknown names get rows too, so a wait tells nothing about which exist."""

    __tablename__ = "login_throttle"
    account: Mapped[str] = mapped_column(String(32), primary_key=True)  # keyed hash of the username typed
    source: Mapped[str] = mapped_column(String(32), primary_key=True)  # keyed hash of the address
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginSession(db.Model):
    """One sign-in of a staff account; logging out (or a role change) revokes it everywhere."""

    __tablename__ = "login_session"
    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiKey(db.Model):
    """A key for an integrator (call centre, e-Otinish) that submits on behalf of many people."""

    __tablename__ = "api_key"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(12))  # shown in lists; the key itself is never stored
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEvent(db.Model):
    """Who did what and when: every moderation action and every refused attempt."""

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    actor: Mapped[str] = mapped_column(String(80), default="")
    action: Mapped[str] = mapped_column(String(40))
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcast.id"), index=True)
    question_id: Mapped[int | None] = mapped_column(ForeignKey("question.id"), index=True)
    ip: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class CalendarDay(db.Model):
    """A correction to the Kazakhstan calendar: an extra day off, or a weekend made a working day."""

    __tablename__ = "calendar_day"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "day_off" or "working_day"
    note: Mapped[str] = mapped_column(String(200), default="")


class Appeal(db.Model):
    """A citizen appeal: every question becomes one; other channels (Open311) create them directly."""

    __tablename__ = "appeal"
    __table_args__ = (
        # the back office lists by due date (keyset on due_date, id), filtered by status or department
        Index("ix_appeal_due", "due_date", "id"),
        Index("ix_appeal_status_due", "status", "due_date", "id"),
        Index("ix_appeal_department_due", "department_id", "due_date", "id"),
        # overdue / due soon: open appeals by due date, without walking years of closed ones
        Index("ix_appeal_running_due", "clock_running", "due_date", "id"),
        Index("ix_appeal_received", "received_at"),
        # idempotency per integrator: another key's copy of a client_id is another appeal
        UniqueConstraint("channel", "api_key_id", "client_id", name="uq_appeal_client"),
        # repeat detection: the same contact's appeals in one category over the last year
        Index("ix_appeal_contact_category", "contact", "category_id", "received_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    tracking_code: Mapped[str | None] = mapped_column(String(40), unique=True)
    # the resident's secret half of the appeal's public address (receipt, QR code, notices);
    # the tracking code alone shows only the status and dates
    access_code: Mapped[str] = mapped_column(String(16), default=new_access_code, server_default="")
    # the integrator that filed it (Open311): only that key reads it in full
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    question_id: Mapped[int | None] = mapped_column(ForeignKey("question.id"), unique=True)
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcast.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8), default=Channel.WEB.value)
    client_id: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(2), default=config.FALLBACK_LANGUAGE)
    text: Mapped[str] = mapped_column(Text)
    author_name: Mapped[str] = mapped_column(String(120), default="")
    district: Mapped[str] = mapped_column(String(120), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    lat: Mapped[float | None] = mapped_column()
    long: Mapped[float | None] = mapped_column()
    contact: Mapped[str] = mapped_column(String(200), default="")
    # the blocking key (services.blocking: a keyed hash) of a sender whose number is not kept (a caller who did
    # not consent): lets staff block them on every channel; names no one, erased with the personal data
    sender_key: Mapped[str] = mapped_column(String(48), default="", server_default="")
    # the consent the applicant gave (as on its question), and when it was withdrawn
    consent_version: Mapped[str] = mapped_column(String(20), default="", server_default="")
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consent_form: Mapped[str] = mapped_column(String(8), default="", server_default="")
    consent_withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # when the retention period erased its personal data (services/privacy.erase_expired)
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    status: Mapped[str] = mapped_column(String(32), default=AppealStatus.REGISTERED.value)
    follow_up: Mapped[bool] = mapped_column(Boolean, default=False)
    # what the registration rules ask the record to hold (services.appeals.set_record)
    appeal_type: Mapped[str] = mapped_column(String(16), default=AppealType.STATEMENT.value,
                                             server_default=AppealType.STATEMENT.value)
    form: Mapped[str] = mapped_column(String(12), default=AppealForm.ELECTRONIC.value,
                                      server_default=AppealForm.ELECTRONIC.value)
    repeat: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    collective: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # the statutory ground it was left without consideration on (services.wording.LEAVE_GROUNDS)
    leave_ground: Mapped[str] = mapped_column(String(24), default="", server_default="")
    # an appeal under the APPK (a name and a contact: services.appeals.is_statutory); False for a
    # question only, which is tracked but has no statutory clock and no place in the statistics
    statutory: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # forwarded at once: it reported a crime or a threat to security (the law's exception for anonymous ones)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # the statutory clock runs (kept in step with status, follow_up and statutory by services.appeals)
    clock_running: Mapped[bool] = mapped_column(Boolean, default=True)
    # when the office received it: for an import, the sending system's own time of receipt
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # the legal registration date (APPK art. 64(3)): the next working day when received after hours
    registered_on: Mapped[date | None] = mapped_column(Date)
    # who accepted it: the staff member who took a phone call (else the office's responsible official)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # an appeal from another system: that system (its API key's name) and its own number there
    source_system: Mapped[str] = mapped_column(String(120), default="", server_default="")
    external_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # what an Open311 client sent beyond the appeal's own fields (media_url, attribute[...], device_id,
    # account_id, address_id): kept as sent for staff, never interpreted; None when it sent none
    open311_extra: Mapped[dict | None] = mapped_column(JSON)
    # what a messaging channel's message carried besides its text (a Telegram photo's file_id), for staff
    attachments: Mapped[dict | None] = mapped_column(JSON)
    # an officer's proposed extension, waiting for the head's decision
    proposed_due_date: Mapped[date | None] = mapped_column(Date)
    proposed_reason: Mapped[str] = mapped_column(String(500), default="", server_default="")
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    due_date: Mapped[date] = mapped_column(Date)
    original_due_date: Mapped[date] = mapped_column(Date)
    forward_due_date: Mapped[date] = mapped_column(Date)
    notice_due_date: Mapped[date | None] = mapped_column(Date)
    extension_reason: Mapped[str] = mapped_column(String(500), default="")
    forwarded_to: Mapped[str] = mapped_column(String(200), default="")
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # set when answered, so the public roadmap sums them instead of converting a million timestamps
    days_to_answer: Mapped[int | None] = mapped_column(Integer)
    answered_on_time: Mapped[bool | None] = mapped_column(Boolean)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # an UPDATE of the row names the version it was read at (set by the services, +1 a change): a write from a
    # screen that saw an older version meanwhile changes nothing and is refused (services.database.resilient)
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}

    question: Mapped[Question | None] = relationship(backref=backref("appeal", uselist=False))
    broadcast: Mapped[Broadcast | None] = relationship()
    category: Mapped[Category | None] = relationship()
    department: Mapped[Department | None] = relationship()
    officer: Mapped[User | None] = relationship(foreign_keys=[officer_id])
    accepted_by: Mapped[User | None] = relationship(foreign_keys=[accepted_by_id])
    proposed_by: Mapped[User | None] = relationship(foreign_keys=[proposed_by_id])
    events: Mapped[list["AppealEvent"]] = relationship(back_populates="appeal", order_by="AppealEvent.id")

    @hybrid_property
    def is_open(self) -> bool:
        """True while the appeal (or question only) still waits for its answer, by its status (appeal_open)."""
        return appeal_open(self.status, self.follow_up)

    @is_open.inplace.expression
    @classmethod
    def _is_open_sql(cls):
        """The same rule as SQL, for queries (the lists' "unfinished" filter, retention's "finished")."""
        on_air = AppealStatus.ANSWERED_ON_AIR.value
        return or_(and_(cls.status == on_air, cls.follow_up.is_(True)),
                   and_(cls.status != on_air, cls.status.not_in([s.value for s in FINISHED_APPEAL_STATUSES])))

    @property
    def clock_runs(self) -> bool:
        """True while the statutory clock runs: an open appeal; never a question only."""
        return self.statutory is not False and self.is_open


class AppealEvent(db.Model):
    """One step in an appeal's history: who, when, what, and a note (public steps show on /track)."""

    __tablename__ = "appeal_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeal.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str] = mapped_column(String(32), default="")
    to_status: Mapped[str] = mapped_column(String(32), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    appeal: Mapped[Appeal] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


class RateCount(db.Model):
    """Hits of one kind from one sender in one minute (rate limits of requests that store nothing else)."""

    __tablename__ = "rate_count"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)  # minutes since the epoch
    hits: Mapped[int] = mapped_column(Integer, default=0)


class ReportCache(db.Model):
    """A computed public report (the roadmap), kept for a short time so a million rows are not re-read per view."""

    __tablename__ = "report_cache"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)


class BackstageMessage(db.Model):
    """A note from a moderator to the speaker ("wrap up"), shown on the teleprompter; read_at is the receipt."""

    __tablename__ = "backstage_message"
    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcast.id"), index=True)
    text: Mapped[str] = mapped_column(String(200))
    sent_by: Mapped[str] = mapped_column(String(80), default="")
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AppealFile(db.Model):
    """A photo a resident attached in a chat, fetched from the platform (within CHANNEL_PHOTO_MAX_BYTES) and kept
    in the database with its appeal, so every process and the backup have it; shown to staff only."""

    __tablename__ = "appeal_file"
    __table_args__ = (UniqueConstraint("appeal_id", "platform_id", name="uq_appeal_file"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeal.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    platform_id: Mapped[str] = mapped_column(String(200))  # Telegram's file_id, WhatsApp's media id
    mime_type: Mapped[str] = mapped_column(String(40))  # from the bytes themselves, never from the platform
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutboxMessage(db.Model):
    """One notice to send back through a messaging channel (Telegram, WhatsApp) or by e-mail: written in the
    transaction of the change that caused it, sent by the channels process (a chat's) or a serving process's
    mailer (an e-mail's) with retries; "dead" after the last attempt."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int | None] = mapped_column(ForeignKey("appeal.id"), index=True)
    # a broadcast's report e-mailed to a staff recipient (channel "email", kind "report"; services/report_mail.py)
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcast.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    # a chat id, or an e-mail address (up to 254 characters, RFC 5321) for the "email" channel
    chat: Mapped[str] = mapped_column(String(254))
    kind: Mapped[str] = mapped_column(String(16))  # register, answer, extend, forward, urgent, leave, reply, report
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(8), default="pending")  # pending, sent, failed (will retry), dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # how it went: "text", or "template:<name>" (WhatsApp outside its 24-hour customer-service window)
    sent_as: Mapped[str] = mapped_column(String(80), default="")
    # the language of what is sent with it (a report's PDF); "" for a chat's notice, written in its text
    language: Mapped[str] = mapped_column(String(2), default="", server_default="")

    appeal: Mapped[Appeal | None] = relationship()


class AudienceCount(db.Model):
    """How many viewers one serving process holds connected to a live broadcast, as it last counted them:
    the audience is the sum over the processes whose count is fresh (services/audience.py)."""

    __tablename__ = "audience_count"
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcast.id"), primary_key=True)
    process: Mapped[str] = mapped_column(String(64), primary_key=True)
    viewers: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ChannelChat(db.Model):
    """A resident's chat with the office's bot: the language chosen and the consent given (or refused) there."""

    __tablename__ = "channel_chat"
    channel: Mapped[str] = mapped_column(String(8), primary_key=True)
    chat: Mapped[str] = mapped_column(String(64), primary_key=True)
    language: Mapped[str] = mapped_column(String(2), default="")
    # "given" (the name is kept and the chat is the contact), "refused" (anonymous), "" not asked yet
    consent: Mapped[str] = mapped_column(String(8), default="")
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the resident's last message or button press: WhatsApp's 24-hour window for free-form replies counts from it
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ChannelUpdate(db.Model):
    """One update a platform delivered, once: a chat's message id is unique, and an update_id is looked for
    in the chat's updates of the last day (services.channels._seen: Telegram starts update_id again after a
    week without updates), so a redelivery finds this row instead of making a second one."""

    __tablename__ = "channel_update"
    __table_args__ = (UniqueConstraint("channel", "chat", "message_id", name="uq_channel_message"),
                      Index("ix_channel_update_chat_update", "channel", "chat", "update_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))
    # 64-bit: a WhatsApp message id (a "wamid." string) is kept as a 63-bit digest of it (channels/whatsapp.py)
    update_id: Mapped[int] = mapped_column(BigInteger)
    chat: Mapped[str] = mapped_column(String(64), default="")
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    # a message kept until the resident answers the consent question ("held"), then "done"
    state: Mapped[str] = mapped_column(String(8), default="done")
    held: Mapped[dict | None] = mapped_column(JSON)
    appeal_id: Mapped[int | None] = mapped_column(ForeignKey("appeal.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PromiseStatus(StrEnum):
    """Where a promise made on air stands; "late" is not stored: it is an open promise past its due date."""

    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    WITHDRAWN = "withdrawn"  # marked by mistake (not what was said, or twice), found after work began


class Promise(db.Model):
    """A commitment the akim made on air: what, who is responsible, by when, the question it answers and
    the moment in the stream; tracked by the office like an appeal, public once published."""

    __tablename__ = "promise"
    __table_args__ = (Index("ix_promise_department_due", "department_id", "due_date", "id"),
                      Index("ix_promise_published_due", "published", "due_date", "id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcast.id"), index=True)
    question_id: Mapped[int | None] = mapped_column(ForeignKey("question.id"), index=True)
    text: Mapped[str] = mapped_column(Text)  # staff-written: what was promised
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    responsible: Mapped[str] = mapped_column(String(200), default="")  # free text, staff only
    due_date: Mapped[date] = mapped_column(Date)
    # seconds from the broadcast's start to the moment it was said (None: not known)
    stream_offset: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=PromiseStatus.PLANNED.value)
    evidence_url: Mapped[str] = mapped_column(String(500), default="")
    evidence_note: Mapped[str] = mapped_column(Text, default="")
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    broadcast: Mapped[Broadcast] = relationship()
    question: Mapped[Question | None] = relationship()
    department: Mapped[Department | None] = relationship()
    created_by: Mapped[User | None] = relationship()
    notes: Mapped[list["PromiseNote"]] = relationship(back_populates="promise", order_by="PromiseNote.id")


class PromiseNote(db.Model):
    """One entry of a promise's history: a progress note, a status change, evidence, publishing; who and when."""

    __tablename__ = "promise_note"
    id: Mapped[int] = mapped_column(primary_key=True)
    promise_id: Mapped[int] = mapped_column(ForeignKey("promise.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    kind: Mapped[str] = mapped_column(String(16))  # marked, note, status, evidence, published, unpublished, edited
    text: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    promise: Mapped[Promise] = relationship(back_populates="notes")
    author: Mapped[User | None] = relationship()
class BlockedSender(db.Model):
    """A sender whose messages no channel takes (spam, abuse), by identity: a web viewer's token, a Telegram
    chat, a phone number (WhatsApp's, or one an operator typed), an e-mail address. The identity is kept as a
    keyed hash (services/blocking.py), with a masked label for staff; an unblock keeps the row, dated."""

    __tablename__ = "blocked_sender"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)  # keyed hash of "<kind>:<normalised identity>"
    kind: Mapped[str] = mapped_column(String(16))  # viewer, telegram, phone, email
    label: Mapped[str] = mapped_column(String(80), default="")  # masked, for the admin list
    reason: Mapped[str] = mapped_column(String(300), default="")
    question_id: Mapped[int | None] = mapped_column(ForeignKey("question.id"))
    appeal_id: Mapped[int | None] = mapped_column(ForeignKey("appeal.id"))
    blocked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    blocked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    unblocked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    unblocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    blocked_by: Mapped[User | None] = relationship(foreign_keys=[blocked_by_id])
    unblocked_by: Mapped[User | None] = relationship(foreign_keys=[unblocked_by_id])


class TopicState(StrEnum):
    """Where a topic stands on an appeal: suggested by the rules, confirmed or removed by staff (the rules,
    applied again, change suggestions only)."""

    SUGGESTED = "suggested"
    CONFIRMED = "confirmed"
    REMOVED = "removed"


class AppealTopic(db.Model):
    """One topic of one appeal, and whether the rules suggested it or staff confirmed or removed it."""

    __tablename__ = "appeal_topic"
    # the list's filter by topic reads one topic's appeals (the primary key leads with the appeal: its page)
    __table_args__ = (Index("ix_appeal_topic_topic", "topic_id", "state", "appeal_id"),)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeal.id"), primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(12), default=TopicState.SUGGESTED.value)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    topic: Mapped[Topic] = relationship()


class TopicRun(db.Model):
    """The topics' rules applied again to every appeal on demand, newest first, a batch per transaction by
    whichever serving process (or `python -m companion retag`) takes the next batch: `below_id` is where
    it stands (the appeals with a lower id are still to do)."""

    __tablename__ = "topic_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    top_id: Mapped[int] = mapped_column(Integer, default=0)  # the newest appeal when it was asked for
    below_id: Mapped[int] = mapped_column(Integer, default=1)
    done: Mapped[int] = mapped_column(Integer, default=0)  # appeals gone through
    changed: Mapped[int] = mapped_column(Integer, default=0)  # appeals whose suggestions changed
    # running, done, or superseded (asked for again before it ended: the newer rules start over)
    state: Mapped[str] = mapped_column(String(12), default="running")
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    requested_by: Mapped[User | None] = relationship()
