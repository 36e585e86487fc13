"""Notices to applicants (answer, extension, forwarding, leaving without consideration): e-mailed in the
appeal's language when the applicant left an address, otherwise recorded as due for an officer to give by
phone or in writing; every notice is recorded in the appeal's history."""
from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, not_, select
from sqlalchemy.orm import aliased

from ..extensions import db
from ..links import absolute_url
from ..models import Appeal, AppealEvent, User, utcnow
from .appeals import ACTION_LABELS, NOTICE_MEANS, _note, format_access_code, ground_label
from . import outbox
from ..errors import InvalidTransition, ValidationError
from .fields import Limit
from .office import office_name

log = logging.getLogger(__name__)
KINDS = ("answer", "extend", "forward", "leave", "urgent")
# A notice the applicant still has to be given: no e-mail address (a phone only), no mail server, or the
# e-mail failed. Any later notice (sent or given) tells the applicant where the appeal stands now.
DUE, FAILED, SENT, GIVEN = "notice_due", "notice_failed", "notice_sent", "notice_given"
MEANS = NOTICE_MEANS  # how an officer told the applicant
# what a notice tells, as the history names the step it follows
KIND_LABELS = {"answer": ACTION_LABELS["answer"], "extend": ACTION_LABELS["extend"], "forward": ACTION_LABELS["forward"],
               "leave": ACTION_LABELS["leave"], "urgent": ACTION_LABELS["forward_immediately"]}


def _body(appeal: Appeal, kind: str, link: str) -> tuple[str, str]:
    subject = _("Your appeal %(code)s", code=appeal.tracking_code)
    lines = [_("Dear applicant,"), ""]
    if kind == "answer":
        lines += [_("Your appeal %(code)s has been answered:", code=appeal.tracking_code), "", appeal.answer]
    elif kind == "extend":
        lines += [_("The term of your appeal %(code)s has been extended to %(date)s.", code=appeal.tracking_code,
                    date=format_date(appeal.due_date, "long")),
                  _("Reason: %(reason)s", reason=appeal.extension_reason)]
    elif kind == "leave":
        lines += [_("Your appeal %(code)s has been left without consideration.", code=appeal.tracking_code),
                  _("Ground: %(ground)s", ground=ground_label(appeal.leave_ground))]
    elif kind == "urgent":
        lines += [_("Your appeal %(code)s has been forwarded at once to: %(body)s, as the law requires for a "
                    "report of a crime or of a threat to security.", code=appeal.tracking_code, body=appeal.forwarded_to)]
    else:
        lines += [_("Your appeal %(code)s is outside our competence and has been forwarded to: %(body)s.",
                    code=appeal.tracking_code, body=appeal.forwarded_to)]
    lines += ["", _("Follow your appeal here: %(link)s", link=link), "", office_name(appeal.language)]
    return subject, "\n".join(lines)


def track_link(appeal: Appeal) -> str:
    """The applicant's page of the appeal (number and access code), as an absolute address."""
    return absolute_url("public.track_private", code=appeal.tracking_code, access=format_access_code(appeal.access_code))


def notify(appeal: Appeal, kind: str) -> AppealEvent | None:
    """E-mail the applicant (when they left an e-mail address and SMTP is set) and record the notice.

    Runs after the action is committed: a mail server that is down never undoes an answer; the
    failure is recorded in the history so an officer can tell the applicant another way."""
    cfg = current_app.config
    if kind not in KINDS or not appeal.contact or outbox.chat_of(appeal) is not None:
        return None  # a chat's notices went into the outbox with the change (services/outbox.py)
    if "@" not in appeal.contact or not cfg["SMTP_HOST"]:
        # a phone number only, or no mail server: an officer must tell the applicant (the list's "to tell")
        reason = "no_address" if "@" not in appeal.contact else "no_mail_server"
        return _event(appeal, DUE, {"kind": kind, "reason": reason}, public=False)
    with force_locale(appeal.language):
        subject, body = _body(appeal, kind, track_link(appeal))
    message = EmailMessage()
    message["From"] = cfg["MAIL_FROM"]
    message["To"] = appeal.contact
    message["Subject"] = subject
    message.set_content(body)
    try:
        send_email(message)
        action, detail = "notice_sent", {"kind": kind}
    except (OSError, smtplib.SMTPException) as exc:
        # the address is personal data: log the appeal number and the error class only
        log.warning("notice for %s failed: %s", appeal.tracking_code, type(exc).__name__)
        action, detail = "notice_failed", {"kind": kind, "error": type(exc).__name__}
    return _event(appeal, action, detail, public=action == SENT)


def deliver(noted: list[tuple[Appeal, str]]) -> list[AppealEvent]:
    """The one sender of the notices steps noted (`outbox.enqueue_notice`), once they are committed: each
    e-mailed, or recorded as due for an officer to give. Returns the events (sent, failed, due) in order."""
    return [event for event in (notify(appeal, kind) for appeal, kind in noted) if event is not None]


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
