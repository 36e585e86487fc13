"""Personal data (Law No. 94-V "On personal data and their protection"): the consent text and its
version, the separate opt-in to show a name on public screens, the retention period, withdrawal.

The consent names what arts. 7-8 ask for: the operator, the data, the purpose, the term of storage,
transfer (none, but to a body an appeal is forwarded to by law), and publication. Art. 12: data is
kept no longer than its purpose needs, so a finished appeal loses its name and contact after
RETENTION_DAYS and is kept anonymised (docs/privacy.md)."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from babel.units import format_unit
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, func, not_, select, update

from ..extensions import db
from ..models import (Appeal, AppealEvent, AppealFile, AuditEvent, Question,
                      Vote, utcnow)
from .changes import Change, ChangeBuilder
from .consent import CONSENT_FORMS, CONSENT_VERSION, consent_fields  # noqa: F401 - the rules' home is consent
from .office import office_name
from .reports import OTHER_DISTRICT, known_districts

log = logging.getLogger(__name__)

TRUTHY = (True, "true", "on", "1", 1)

CONSENT_FORM_LABELS = {"web": _l("ticked on the question form"), "oral": _l("given orally to the phone operator"),
                       "api": _l("declared by the sending system"),
                       "telegram": _l("given with the button in the Telegram chat"),
                       "whatsapp": _l("given with the button in the WhatsApp chat")}

CONSENT_SENTENCE = _l("I consent to the collection and processing of my personal data for considering my "
                      "appeal and answering it.")
SHOW_NAME_SENTENCE = _l("Show my name and district on air and on public screens")


def given(value) -> bool:
    """True for a ticked checkbox or a JSON true."""
    return value in TRUTHY


def retention_term(locale: str) -> str:
    """RETENTION_DAYS in words: "3 года", "3 жыл", "3 years"; in days when not whole years."""
    days = current_app.config["RETENTION_DAYS"]
    if days % 365 == 0:
        return format_unit(days // 365, "duration-year", length="long", locale=locale, format="#")
    return format_unit(days, "duration-day", length="long", locale=locale, format="#")


def consent_points(locale: str) -> list[str]:
    """The consent's elements in the current language, in the order the law lists them."""
    return [
        str(_l("Operator: %(office)s.", office=office_name(locale))),
        str(_l("Data collected: your name, district, phone or e-mail, and the text of your question.")),
        str(_l("Purpose: to consider your appeal and to answer it.")),
        str(_l("Term of storage: %(term)s after the consideration of the appeal is finished. Then your name, "
               "district and contact are erased; the text of the appeal is kept without them.",
               term=retention_term(locale))),
        str(_l("Your data is stored in Kazakhstan and is not transferred to third parties or abroad, except to a "
               "state body your appeal is forwarded to under the law.")),
        str(_l("Publication: the text of your question may be shown on air and on public screens. Your name and "
               "district are shown there only if you tick the separate box for it.")),
        str(_l("You can withdraw your consent at any time on the page of your appeal (its number and access "
               "code): your name and contact are then erased at once.")),
    ]


# --- retention --------------------------------------------------------------------------------

def _finished():
    """SQL: the appeal is finished (no answer is still due)."""
    return not_(Appeal.is_open)


def district_bucket(district: str, known: dict[str, str]) -> str:
    """What an anonymised appeal keeps of its district: the office's own name for it (COMPANION_DISTRICTS),
    or "other", so the roadmap's counts by district stay as they were; nothing the resident typed."""
    if not district.strip():
        return ""
    return known.get(district.strip().casefold(), OTHER_DISTRICT)


def erase_expired(*, now: datetime | None = None, batch_size: int = 500) -> dict:
    """Erase names, contacts, addresses, districts, viewer tokens and address hashes of appeals finished more
    than RETENTION_DAYS ago (and of their questions and votes); texts, statuses and counts stay.

    Works in batches of `batch_size`, one transaction each; idempotent (an anonymised appeal is skipped).
    Returns the counts, and records them (never what was erased) in the audit log."""
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["RETENTION_DAYS"])
    finished_at = func.coalesce(Appeal.closed_at, Appeal.answered_at, Appeal.updated_at)
    known = known_districts()
    totals = {"appeals": 0, "questions": 0, "votes": 0, "batches": 0}
    last_id = 0
    while True:
        rows = db.session.execute(
            select(Appeal.id, Appeal.question_id, Appeal.district)
            .where(Appeal.id > last_id, Appeal.anonymised_at.is_(None), _finished(), finished_at < cutoff)
            .order_by(Appeal.id).limit(batch_size)).all()
        if not rows:
            break
        last_id = rows[-1].id
        _anonymise_appeals([(r.id, district_bucket(r.district, known)) for r in rows], now)
        question_ids = [r.question_id for r in rows if r.question_id is not None]
        if question_ids:
            totals["questions"] += _erase_questions(question_ids)
            totals["votes"] += db.session.execute(delete(Vote).where(Vote.question_id.in_(question_ids))).rowcount
        totals["appeals"] += len(rows)
        totals["batches"] += 1
        db.session.commit()
        log.info("erase-expired: batch %d, %d appeals anonymised", totals["batches"], len(rows))
    db.session.add(AuditEvent(actor="system", action="erase_expired", at=now,
                              detail={**totals, "retention_days": current_app.config["RETENTION_DAYS"]}))
    db.session.commit()
    return totals


def _anonymise_appeals(rows: list[tuple[int, str]], now: datetime) -> None:
    """One UPDATE for a batch of appeals: personal fields cleared, the district reduced to its bucket."""
    table = Appeal.__table__
    db.session.execute(update(table).where(table.c.id == bindparam("row_id")).values(
        author_name="", contact="", sender_key="", address="", lat=None, long=None, district=bindparam("bucket"),
        anonymised_at=now), [{"row_id": row_id, "bucket": bucket} for row_id, bucket in rows])
    # a photo from a chat may show a face, a car's plate or a door: it goes with the name and the contact
    db.session.execute(delete(AppealFile).where(AppealFile.appeal_id.in_([row_id for row_id, _bucket in rows])))


ERASED_QUESTION_FIELDS = dict(author_name="", district="", contact="", contact_consent=False, show_name=False,
                              viewer_token=None, source_hash="")


def _erase_questions(question_ids: list[int]) -> int:
    return db.session.execute(update(Question).where(Question.id.in_(question_ids)).values(**ERASED_QUESTION_FIELDS),
                              execution_options={"synchronize_session": False}).rowcount


# --- withdrawal -------------------------------------------------------------------------------

def has_personal_data(appeal: Appeal) -> bool:
    """True while the appeal (or its question) holds a name, district, contact or address."""
    question = appeal.question
    return any((appeal.author_name, appeal.contact, appeal.district, appeal.address)) or (
        question is not None and any((question.author_name, question.contact, question.district)))


def withdraw_consent(appeal: Appeal) -> Change | None:
    """The resident withdraws consent: name, district, contact and address are erased at once, the appeal
    goes on without them (a question only: no written answer can be sent), and the step is recorded.

    Returns the Change to publish (screens drop the name), or None when there was nothing left to erase.
    The district keeps only its statistical bucket, as after the retention period."""
    if appeal.consent_withdrawn_at is not None:
        return None
    now = utcnow()
    question = appeal.question
    change = None
    if question is not None:
        builder = ChangeBuilder("question_edited", question.broadcast)
        builder.touch(question)  # the desk and, when it is public, every screen drop the name
        for key, value in ERASED_QUESTION_FIELDS.items():
            if key != "viewer_token":  # the resident still follows the question under "my questions"
                setattr(question, key, value)
        change = builder.finish()
    appeal.author_name = appeal.contact = appeal.address = ""
    appeal.district = district_bucket(appeal.district, known_districts())
    appeal.lat = appeal.long = None
    appeal.consent_withdrawn_at = now
    # without a name and a contact it is a question only (services.appeals.is_statutory): no term runs
    appeal.statutory = False
    appeal.follow_up = False  # no contact is left to send a written answer to
    appeal.clock_running = appeal.clock_runs
    appeal.updated_at = now
    appeal.version += 1
    db.session.add(AppealEvent(appeal=appeal, action="consent_withdrawn", from_status=appeal.status,
                               to_status=appeal.status, public=True, at=now, detail={}))
    db.session.commit()
    return change
