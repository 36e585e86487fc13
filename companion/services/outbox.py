"""The outbox of notices sent back through a messaging channel (Telegram, WhatsApp) or by e-mail: one row per notice,
written in the transaction of the change that caused it; the channels process (a chat's) or a serving process's
mail task (an e-mail's) sends the rows that are due, retries a failed send with exponential backoff, and
dead-letters one that failed OUTBOX_MAX_ATTEMPTS times for staff to see.
Each sent or dead notice is a step in the appeal's history. A failed send never touches the change itself."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session, aliased

from ..extensions import db
from ..models import Appeal, AppealEvent, OutboxMessage, utcnow
from .database import resilient
from .fields import chat_in
from ..permissions import AppealScope, appeals_visible
from .wording import email_text, notice_text, parts

PENDING, SENT, FAILED, DEAD = "pending", "sent", "failed", "dead"
CANCELLED = "canceled"  # (the column holds 8 letters) staff took it back before it went (a report recipient removed, or sent again now)
BACKOFF_CAP_SECONDS = 3600
LEASE_SECONDS = 600  # a claimed e-mail is retried after this when its process died while sending it


def chat_of(appeal: Appeal) -> tuple[str, str] | None:
    """(channel, chat) when the appeal's contact is a chat on a messaging channel, else None."""
    return chat_in(appeal.contact)


def enqueue(channel: str, chat, kind: str, text: str, appeal: Appeal | None = None) -> OutboxMessage:
    """Add one notice to the outbox in the caller's transaction (the caller commits)."""
    message = OutboxMessage(appeal=appeal, channel=channel, chat=str(chat), kind=kind, text=text, state=PENDING,
                            attempts=0, next_attempt_at=utcnow(), last_error="", created_at=utcnow())
    db.session.add(message)
    return message


EMAIL = "email"  # an e-mail to an applicant's address or to a report's recipient, sent by a serving process
# the steps of an appeal an e-mail or an officer's notice is written for (a chat is told these and its appeal's
# assignment to a department too: wording.notice_text), and what the appeal's history records of it: an e-mail
# sent (or failed at a try), or due for an officer to give by phone or in writing (a phone only, or no mail server)
NOTICE_KINDS = ("answer", "extend", "forward", "leave", "urgent")
NOTICE_DUE, NOTICE_FAILED, NOTICE_SENT, NOTICE_GIVEN = "notice_due", "notice_failed", "notice_sent", "notice_given"
NOTED = "companion.notices"  # the notices this session's steps wrote, for the screen to say what is owed by hand


@dataclass(frozen=True)
class Notice:
    """A notice a step wrote for its applicant: `owed` says why an officer must give it by phone or in writing
    ("no_address": a phone only; "no_mail_server"), or is "" when a chat or an e-mail takes it."""
    appeal: Appeal
    kind: str
    owed: str = ""


def enqueue_notice(appeal: Appeal, kind: str) -> Notice | None:
    """The one call by which a step of an appeal tells its applicant, made by the service in the step's
    transaction (nothing is sent inside it). A chat's notice or an e-mail is an outbox row, sent by the
    channel's worker or by a serving process's mail task; with a phone only, or no mail server, the history
    records the notice as due for an officer to give. `take_noted` returns the notices once committed."""
    target = chat_of(appeal)
    if target is not None:
        for part in parts(notice_text(appeal, kind)):  # a long answer without a link to it: in several messages, in order
            enqueue(target[0], target[1], kind, part, appeal)
        notice = Notice(appeal, kind)
    elif kind not in NOTICE_KINDS or not appeal.contact:
        return None
    elif "@" in appeal.contact and current_app.config["SMTP_HOST"]:
        enqueue(EMAIL, appeal.contact, kind, email_text(appeal, kind), appeal).language = appeal.language
        notice = Notice(appeal, kind)
    else:
        notice = Notice(appeal, kind, "no_address" if "@" not in appeal.contact else "no_mail_server")
        db.session.add(AppealEvent(appeal=appeal, action=NOTICE_DUE, from_status=appeal.status, to_status=appeal.status,
                                   public=False, detail={"kind": kind, "reason": notice.owed}, at=utcnow()))
    db.session.info.setdefault(NOTED, []).append(notice)
    return notice


def take_noted() -> list[Notice]:
    """The notices the committed steps of this session wrote, once (the screen says which are owed by hand)."""
    return db.session.info.pop(NOTED, [])


@event.listens_for(Session, "after_soft_rollback")
def _forget_noted(session, previous_transaction) -> None:
    """A step rolled back tells no one."""
    session.info.pop(NOTED, None)


def claim(message_id: int, now: datetime) -> bool:
    """Take a due row for this process (a lease on its next attempt); False when another process has it."""
    taken = db.session.execute(update(OutboxMessage).where(
        OutboxMessage.id == message_id, OutboxMessage.state.in_((PENDING, FAILED)),
        OutboxMessage.next_attempt_at <= now).values(next_attempt_at=now + timedelta(seconds=LEASE_SECONDS)))
    db.session.commit()
    return taken.rowcount == 1


def due(channel: str, limit: int = 50, now: datetime | None = None, kinds=None) -> list[OutboxMessage]:
    """The notices of a channel to send now (new, or failed and past their backoff), oldest first; with
    `kinds`, only those of these kinds (the e-mails to applicants, or the broadcast reports). A notice waits
    while an earlier one to the same chat waits out its backoff: a resident reads the steps in the order they
    happened (the number before the forwarding, an answer's parts in order)."""
    now = now or utcnow()
    earlier = aliased(OutboxMessage)  # a notice waits while an earlier one to the same chat waits out its backoff
    waiting_before = select(earlier.id).where(
        earlier.channel == OutboxMessage.channel, earlier.chat == OutboxMessage.chat, earlier.id < OutboxMessage.id,
        earlier.state.in_((PENDING, FAILED)), earlier.next_attempt_at > now).exists()
    query = select(OutboxMessage).where(OutboxMessage.channel == channel, OutboxMessage.state.in_((PENDING, FAILED)),
                                        OutboxMessage.next_attempt_at <= now, ~waiting_before)
    if kinds is not None:
        query = query.where(OutboxMessage.kind.in_(kinds))
    return list(db.session.scalars(query.order_by(OutboxMessage.id).limit(limit)))


def _history(message: OutboxMessage, action: str, public: bool, **detail) -> None:
    appeal = message.appeal
    if appeal is not None:
        db.session.add(AppealEvent(appeal=appeal, action=action, from_status=appeal.status, to_status=appeal.status,
                                   public=public, detail={"kind": message.kind, **detail}, at=utcnow()))


def record_sent(message: OutboxMessage, sent_as: str = "text") -> None:
    """The platform took the notice: sent (as a text, or as which template), and a public step in the appeal's history."""
    message.attempts += 1
    message.state, message.sent_at, message.last_error, message.sent_as = SENT, utcnow(), "", sent_as[:80]
    if message.channel == EMAIL:
        _history(message, NOTICE_SENT, True)
    else:
        _history(message, "channel_notice_sent", True, channel=message.channel, sent_as=message.sent_as)
    db.session.commit()


def record_failure(message: OutboxMessage, error: str, *, permanent: bool = False) -> None:
    """A send failed: retry after a backoff doubling each time, or dead-letter after the last attempt
    (or at once when the platform says it never will: a blocked bot, a chat that is gone). An e-mail to
    an applicant that failed its first try is owed by hand too (a later sent one covers it)."""
    cfg = current_app.config
    message.attempts += 1
    message.last_error = error[:300]
    if message.channel == EMAIL and message.attempts == 1:
        _history(message, NOTICE_FAILED, False, error=message.last_error)
    if permanent or message.attempts >= cfg["OUTBOX_MAX_ATTEMPTS"]:
        message.state = DEAD
        if message.channel != EMAIL:  # an e-mail's history said at its first failure that it is owed
            _history(message, "channel_notice_dead", False, channel=message.channel, error=message.last_error)
    else:
        message.state = FAILED
        wait = min(cfg["OUTBOX_BACKOFF_SECONDS"] * 2 ** (message.attempts - 1), BACKOFF_CAP_SECONDS)
        message.next_attempt_at = utcnow() + timedelta(seconds=wait)
    db.session.commit()


@resilient  # the serving process writes the same SQLite file: a lock held a moment is waited out
def mark(message_id: int, error: str | None, *, permanent: bool = False, sent_as: str = "text") -> None:
    """Record a send the channel made (or its failure) by the row's id. Once the platform took a notice this
    must hold, or the next round would send it again: a lock is waited out, the row read afresh each try."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.state not in (PENDING, FAILED):
        return
    if error is None:
        record_sent(message, sent_as)
    else:
        record_failure(message, error, permanent=permanent)


def dead_letters(scope: AppealScope | None = None, limit: int = 200) -> list[OutboxMessage]:
    """Notices that will not be sent, newest first: staff tell those applicants another way. With `scope`,
    those of the appeals it sees (and those of no appeal, as the broadcast reports' e-mails), chosen in SQL
    before the limit, so an officer's own are never cut off by other departments'."""
    query = select(OutboxMessage).where(OutboxMessage.state == DEAD)
    if scope is not None:
        query = query.outerjoin(Appeal, Appeal.id == OutboxMessage.appeal_id).where(
            or_(OutboxMessage.appeal_id.is_(None), appeals_visible(scope)))
    return list(db.session.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit)))


def of_appeal(appeal: Appeal) -> list[OutboxMessage]:
    """The appeal's notices through its chat, oldest first (shown on the appeal's page)."""
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.appeal_id == appeal.id)
                                   .order_by(OutboxMessage.id)))
