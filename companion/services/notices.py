"""E-mail notices to applicants (answer, extension, forwarding, leaving without consideration), in the appeal's language, recorded in its history."""
from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app
from flask_babel import force_locale, format_date
from flask_babel import gettext as _

from ..extensions import db
from ..links import absolute_url
from ..models import Appeal, AppealEvent, utcnow
from .appeals import format_access_code, ground_label
from .office import office_name

log = logging.getLogger(__name__)
KINDS = ("answer", "extend", "forward", "leave")


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
    if kind not in KINDS or "@" not in (appeal.contact or "") or not cfg["SMTP_HOST"]:
        return None
    with force_locale(appeal.language):
        subject, body = _body(appeal, kind, track_link(appeal))
    message = EmailMessage()
    message["From"] = cfg["MAIL_FROM"]
    message["To"] = appeal.contact
    message["Subject"] = subject
    message.set_content(body)
    try:
        with smtplib.SMTP(cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=cfg["SMTP_TIMEOUT"]) as smtp:
            if cfg["SMTP_STARTTLS"]:
                smtp.starttls()
            if cfg["SMTP_USERNAME"]:
                smtp.login(cfg["SMTP_USERNAME"], cfg["SMTP_PASSWORD"])
            smtp.send_message(message)
        action, detail = "notice_sent", {"kind": kind}
    except (OSError, smtplib.SMTPException) as exc:
        # the address is personal data: log the appeal number and the error class only
        log.warning("notice for %s failed: %s", appeal.tracking_code, type(exc).__name__)
        action, detail = "notice_failed", {"kind": kind, "error": type(exc).__name__}
    event = AppealEvent(appeal=appeal, action=action, from_status=appeal.status, to_status=appeal.status,
                        public=action == "notice_sent", detail=detail, at=utcnow())
    db.session.add(event)
    db.session.commit()
    return event
