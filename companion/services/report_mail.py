"""The broadcast's report e-mailed to its recipients: when the broadcast ends, or when staff ask.

Each recipient's e-mail is a row of the outbox (services/outbox.py: channel "email", kind "report"), written in
the transaction that ended the broadcast; no request talks to the mail server. A serving process's background
task (`mail_forever`) takes the rows that are due, renders the report's PDF in the recipient's language,
and sends it, retrying with the outbox's backoff; a message that keeps failing is a dead letter staff see under
"Undelivered notices". Several serving processes may run the task: a row is claimed with a conditional UPDATE
(a lease on `next_attempt_at`) before it is sent, so one process sends it."""
from __future__ import annotations

import email.policy
import logging
from datetime import datetime
from email.message import EmailMessage
from typing import Callable

from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_request_context
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from ..extensions import db
from ..links import absolute_url
from ..models import LANGUAGES, Broadcast, OutboxMessage, User, utcnow
from . import outbox
from .fields import Limit
from .audit import audit
from ..errors import Conflict, ValidationError
from . import notices
from .notices import send_email
from .office import office_name

log = logging.getLogger(__name__)
EMAIL, REPORT = outbox.EMAIL, "report"
MAX_RECIPIENTS = 20


def parse_recipients(text, default_language: str) -> list[tuple[str, str]]:
    """[(address, language)] from one address a line, each optionally followed by kk, ru or en; raises
    ValidationError naming the first bad line. Duplicates are kept once."""
    if text is None:
        text = ""
    if not isinstance(text, str) or len(text) > Limit.REPORT_RECIPIENTS:
        raise ValidationError(fields={"report_recipients": _l("At most %(n)s recipients.", n=MAX_RECIPIENTS)})
    recipients: dict[str, str] = {}
    for number, line in enumerate(text.replace(",", "\n").replace(";", "\n").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        language = parts[1].lower() if len(parts) > 1 else default_language
        problem = None
        if len(parts) > 2 or language not in LANGUAGES:
            problem = _l("Line %(n)s: an address, then optionally kk, ru or en.", n=number)
        elif len(parts[0]) > Limit.EMAIL_ADDRESS:  # OutboxMessage.chat holds it
            problem = _l("Line %(n)s: this e-mail address is not valid.", n=number)
        else:
            try:
                address = validate_email(parts[0], check_deliverability=False).normalized
            except EmailNotValidError:
                problem = _l("Line %(n)s: this e-mail address is not valid.", n=number)
        if problem is not None:
            raise ValidationError(fields={"report_recipients": problem})
        recipients.setdefault(address, language)
    if len(recipients) > MAX_RECIPIENTS:
        raise ValidationError(fields={"report_recipients": _l("At most %(n)s recipients.", n=MAX_RECIPIENTS)})
    return list(recipients.items())


def recipients_of(broadcast: Broadcast) -> list[tuple[str, str]]:
    """The broadcast's report recipients as stored (checked when saved)."""
    try:
        return parse_recipients(broadcast.report_recipients or "", current_app.config["DEFAULT_LOCALE"])
    except ValidationError:  # stored before a rule tightened: send to none rather than fail the broadcast's end
        return []


def save_recipients(broadcast: Broadcast, text, *, actor: User | None) -> list[tuple[str, str]]:
    """Check and store the broadcast's report recipients (one "address [language]" a line)."""
    recipients = parse_recipients(text, current_app.config["DEFAULT_LOCALE"])
    broadcast.report_recipients = "\n".join(f"{address} {language}" for address, language in recipients)
    # an address taken off the list gets nothing more: a mistyped address may be somebody else's
    _cancel(broadcast, keep={address for address, _language in recipients})
    audit(actor, "report_recipients_saved", broadcast, count=len(recipients))  # the count only: addresses are personal data
    db.session.commit()
    return recipients


def _report_link(broadcast: Broadcast, language: str) -> str:
    """The report page's absolute address (on COMPANION_PUBLIC_URL), from a request or from the CLI."""
    if has_request_context():
        return absolute_url("reports.report", slug=broadcast.slug, lang=language)
    with current_app.test_request_context("/"):
        return absolute_url("reports.report", slug=broadcast.slug, lang=language)


def _body(broadcast: Broadcast, language: str) -> str:
    with force_locale(language):
        moment = broadcast.started_at or broadcast.starts_at
        lines = [_("The report of the broadcast \u201c%(title)s\u201d is attached (PDF).", title=broadcast.title(language))]
        if moment:
            lines.append(_("Broadcast date: %(date)s", date=format_date(moment, "long")))
        lines += ["", _("The report, its charts and the table of questions online: %(link)s",
                        link=_report_link(broadcast, language)), "",
                  office_name(language)]
    return "\n".join(lines)


def _of(broadcast: Broadcast, *states: str):
    return (OutboxMessage.broadcast_id == broadcast.id, OutboxMessage.channel == EMAIL, OutboxMessage.kind == REPORT,
            OutboxMessage.state.in_(states))


def waiting(broadcast: Broadcast) -> int:
    """How many of the broadcast's report e-mails are on their way (queued, not yet tried)."""
    return db.session.execute(select(func.count()).select_from(OutboxMessage).where(
        *_of(broadcast, outbox.PENDING))).scalar_one()


def retrying(broadcast: Broadcast) -> tuple[int, str]:
    """How many of the broadcast's report e-mails failed and wait for their next try, and the last error."""
    rows = db.session.execute(select(OutboxMessage.last_error).where(*_of(broadcast, outbox.FAILED))
                              .order_by(OutboxMessage.id.desc())).scalars().all()
    return len(rows), (rows[0] if rows else "")


def _cancel(broadcast: Broadcast, *, keep: set[str] | None = None, states=(outbox.PENDING, outbox.FAILED)) -> int:
    """Take back the report e-mails not yet sent (all of them, or those to an address not in `keep`)."""
    where = list(_of(broadcast, *states))
    if keep is not None:
        where.append(OutboxMessage.chat.not_in(keep) if keep else OutboxMessage.id.isnot(None))
    return db.session.execute(update(OutboxMessage).where(*where).values(
        state=outbox.CANCELLED, last_error="", next_attempt_at=utcnow())).rowcount


def enqueue_report(broadcast: Broadcast) -> int:
    """One outbox row per recipient, in the caller's transaction (the caller commits); returns how many."""
    rows = 0
    for address, language in recipients_of(broadcast):
        message = outbox.enqueue(EMAIL, address, REPORT, _body(broadcast, language))
        message.broadcast_id, message.language = broadcast.id, language
        rows += 1
    return rows


def send_now(broadcast: Broadcast, *, actor: User | None) -> int:
    """Staff asked for the report by e-mail now: queue it for every recipient (the sender task sends it)."""
    if not recipients_of(broadcast):
        raise ValidationError(_l("Add the report's recipients first."))
    if waiting(broadcast):
        raise Conflict(_l("The report is already on its way to the recipients."))
    # e-mails that failed and wait for a later try (a mail server that was down, now fixed) go again now,
    # as fresh ones to the recipients as listed now, with every attempt ahead of them
    _cancel(broadcast, states=(outbox.FAILED,))
    rows = enqueue_report(broadcast)
    audit(actor, "report_mailed", broadcast, count=rows)
    db.session.commit()
    return rows


# Python's folding of a long non-ASCII header drops the space where it splits it into two encoded words
# ("Встречас акимом"): with lines up to RFC 5322's 998 characters a subject is never split.
MAIL_POLICY = email.policy.default.clone(max_line_length=998)


def _message(row: OutboxMessage, broadcast: Broadcast, pdf: bytes, file_name: str) -> EmailMessage:
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = row.chat
    with force_locale(row.language or current_app.config["DEFAULT_LOCALE"]):
        message["Subject"] = _("Broadcast report: %(title)s", title=broadcast.title(row.language))
    message.set_content(row.text)
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=file_name)
    return message


Renderer = Callable[[Broadcast, str], tuple[bytes, str]]  # (broadcast, language) -> (PDF, file name)


def send_due(render: Renderer, now: datetime | None = None, limit: int = 20) -> int:
    """Send the report e-mails now due (each PDF rendered once per broadcast and language); returns how many
    were tried. A mail server that refuses or is missing is a failure the outbox retries."""
    now = now or utcnow()
    rendered: dict[tuple[int, str], tuple[bytes, str]] = {}
    tried = 0
    for row in outbox.due(EMAIL, limit=limit, now=now, kinds=(REPORT,)):
        if not outbox.claim(row.id, now):
            continue
        row = db.session.get(OutboxMessage, row.id)
        tried += 1
        broadcast = db.session.get(Broadcast, row.broadcast_id) if row.broadcast_id else None
        if broadcast is None:
            outbox.record_failure(row, "the broadcast is gone", permanent=True)
            continue
        if row.chat not in {address for address, _language in recipients_of(broadcast)}:  # taken off meanwhile
            row.state = outbox.CANCELLED
            db.session.commit()
            continue
        if not current_app.config["SMTP_HOST"]:
            outbox.record_failure(row, "no mail server (COMPANION_SMTP_HOST)")
            continue
        language = row.language or current_app.config["DEFAULT_LOCALE"]
        try:
            key = (broadcast.id, language)
            if key not in rendered:
                rendered[key] = render(broadcast, language)
            send_email(_message(row, broadcast, *rendered[key]))
        except Exception as exc:  # noqa: BLE001 - a refusing mail server or a failed rendering: retried
            # the address is personal data: the broadcast and the error class only
            log.warning("report of %s not mailed: %s", broadcast.slug, type(exc).__name__)
            db.session.rollback()
            outbox.record_failure(db.session.get(OutboxMessage, row.id), type(exc).__name__)
        else:
            outbox.record_sent(row, "email")
    return tried


def mail_forever(app, sleep: Callable[[float], None], render: Renderer) -> None:
    """Background task of a serving process: send the due e-mails (the applicants' notices, then the broadcast
    reports) every REPORT_MAIL_SECONDS, forever."""
    while True:
        sleep(app.config["REPORT_MAIL_SECONDS"])
        with app.app_context():
            try:
                notices.send_due()
                send_due(render)
            except Exception as exc:  # noqa: BLE001 - by type only; the rows stay due for the next round
                log.error("mail round failed: %s", type(exc).__name__)
                db.session.rollback()
            finally:
                db.session.remove()
