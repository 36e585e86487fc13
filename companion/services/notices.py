"""Notices to applicants (answer, extension, forwarding, leaving without consideration): e-mailed in the
appeal's language when the applicant left an address (an outbox row written with the step, sent by a serving
process's mail task, never inside a request), otherwise recorded as due for an officer to give by phone or in
writing; every notice is recorded in the appeal's history."""
from __future__ import annotations

import logging
import smtplib
from datetime import datetime
from email.message import EmailMessage

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, not_, select
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import Appeal, AppealEvent, OutboxMessage, User, utcnow
from .appeals import ACTION_LABELS, NOTICE_MEANS, _note
from . import outbox
from ..errors import InvalidTransition, ValidationError
from .fields import Limit
from .wording import email_subject

log = logging.getLogger(__name__)
KINDS = outbox.NOTICE_KINDS
# A notice the applicant still has to be given: no e-mail address (a phone only), no mail server, or the
# e-mail failed. Any later notice (sent or given) tells the applicant where the appeal stands now.
DUE, FAILED, SENT, GIVEN = outbox.NOTICE_DUE, outbox.NOTICE_FAILED, outbox.NOTICE_SENT, outbox.NOTICE_GIVEN
MEANS = NOTICE_MEANS  # how an officer told the applicant
# what a notice tells, as the history names the step it follows
KIND_LABELS = {"assign": ACTION_LABELS["assign"], "answer": ACTION_LABELS["answer"], "extend": ACTION_LABELS["extend"], "forward": ACTION_LABELS["forward"],
               "leave": ACTION_LABELS["leave"], "urgent": ACTION_LABELS["forward_immediately"]}


def _message(row: OutboxMessage) -> EmailMessage:
    appeal = row.appeal
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = row.chat
    with force_locale(row.language or appeal.language):
        message["Subject"] = email_subject(appeal)
    message.set_content(row.text)
    return message


def send_due(now: datetime | None = None, limit: int = 20) -> int:
    """E-mail the applicants' notices now due (the outbox's "email" rows of an appeal); returns how many were
    tried. A mail server that refuses or is missing is a failure the outbox retries, and the notice is owed
    by hand meanwhile (`pending`)."""
    now = now or utcnow()
    tried = 0
    for row in outbox.due(outbox.EMAIL, limit=limit, now=now, kinds=KINDS):
        if not outbox.claim(row.id, now):
            continue
        row = db.session.get(OutboxMessage, row.id)
        tried += 1
        if row.appeal is None:
            outbox.record_failure(row, "the appeal is gone", permanent=True)
            continue
        if not current_app.config["SMTP_HOST"]:
            outbox.record_failure(row, "no mail server (COMPANION_SMTP_HOST)")
            continue
        try:
            send_email(_message(row))
        except (OSError, smtplib.SMTPException) as exc:
            # the address is personal data: log the appeal number and the error class only
            log.warning("notice for %s failed: %s", row.appeal.tracking_code, type(exc).__name__)
            db.session.rollback()
            outbox.record_failure(db.session.get(OutboxMessage, row.id), type(exc).__name__)
        else:
            outbox.record_sent(row, "email")
    return tried


def send_email(message: EmailMessage) -> None:
    """Hand one message to the office's mail server (COMPANION_SMTP_*); raises OSError or SMTPException."""
    cfg = current_app.config
    with smtplib.SMTP(cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=cfg["SMTP_TIMEOUT"]) as smtp:
        if cfg["SMTP_STARTTLS"]:
            smtp.starttls()
        if cfg["SMTP_USERNAME"]:
            smtp.login(cfg["SMTP_USERNAME"], cfg["SMTP_PASSWORD"])
        smtp.send_message(message)


def _event(appeal: Appeal, action: str, detail: dict, *, public: bool, actor: User | None = None) -> AppealEvent:
    event = AppealEvent(appeal=appeal, action=action, from_status=appeal.status, to_status=appeal.status,
                        public=public, detail=detail, at=utcnow(), actor_id=actor.id if actor else None)
    db.session.add(event)
    db.session.commit()
    return event


def pending(appeal: Appeal) -> list[AppealEvent]:
    """The notices still to give the applicant, oldest first: those due or failed since the last one given
    or sent (telling the applicant where the appeal stands covers every earlier notice)."""
    due: list[AppealEvent] = []
    for event in appeal.events:
        if event.action in (DUE, FAILED):
            due.append(event)
        elif event.action in (SENT, GIVEN):
            due = []
    return due


def pending_condition():
    """SQL twin of `pending`: the appeal has a notice due or failed with no notice sent or given after it."""
    due, told = aliased(AppealEvent), aliased(AppealEvent)
    return exists(select(due.id).where(due.appeal_id == Appeal.id, due.action.in_((DUE, FAILED)), not_(
        exists(select(told.id).where(and_(told.appeal_id == due.appeal_id, told.action.in_((SENT, GIVEN)),
                                          told.id > due.id))))))


def record_told(appeal: Appeal, means, note: str = "", *, actor: User) -> AppealEvent:
    """An officer told the applicant a due notice (by phone, text, letter, in person or from a mailbox):
    a public step in the history; the officer's note stays internal."""
    if means not in MEANS:
        raise ValidationError(fields={"means": _l("Say how the applicant was told.")})
    note = _note(note, "note", required=False, limit=Limit.STEP_NOTE)
    if not pending(appeal):
        raise InvalidTransition(_l("No notice is due to this applicant."), status=appeal.status)
    if note:
        db.session.add(AppealEvent(appeal=appeal, action="comment", from_status=appeal.status,
                                   to_status=appeal.status, public=False, note=note, at=utcnow(),
                                   actor_id=actor.id, detail={}))
    return _event(appeal, GIVEN, {"means": means}, public=True, actor=actor)
