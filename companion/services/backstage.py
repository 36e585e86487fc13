"""Backstage: notes from moderators to the speaker, with read receipts, and the on-air countdown."""
from __future__ import annotations

from datetime import timedelta

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select

from ..extensions import db
from ..models import BackstageMessage, Broadcast, User, utcnow
from .audit import audit
from .changes import Change, ChangeBuilder
from ..errors import NotFound, ValidationError
from .fields import Limit, parse_id, text as _text

MAX_COUNTDOWN = 3600


def latest_message(broadcast: Broadcast) -> BackstageMessage | None:
    """The newest backstage message of the broadcast."""
    return db.session.execute(select(BackstageMessage).where(BackstageMessage.broadcast_id == broadcast.id)
                              .order_by(BackstageMessage.id.desc()).limit(1)).scalar_one_or_none()


def send_message(broadcast: Broadcast, text, *, actor: User | None) -> Change:
    """Show a short note on the teleprompter ("wrap up", "next is important")."""
    text = _text(text, "text", Limit.BACKSTAGE, required=True, required_message=_l("Please write the message."))
    db.session.add(BackstageMessage(broadcast_id=broadcast.id, text=text,
                                    sent_by=actor.display_name or actor.username if actor else "", sent_at=utcnow()))
    audit(actor, "backstage", broadcast)
    return ChangeBuilder("backstage_sent", broadcast).commit(backstage=True)


def mark_read(broadcast: Broadcast, message_id, *, actor: User | None) -> Change | None:
    """The teleprompter showed the message: record the read receipt once (None when already read)."""
    mid = parse_id(message_id)
    message = db.session.get(BackstageMessage, mid) if mid else None
    if message is None or message.broadcast_id != broadcast.id:
        raise NotFound(_l("This message does not exist."))
    if message.read_at is not None:
        return None
    message.read_at = utcnow()
    return ChangeBuilder("backstage_read", broadcast).commit(backstage=True)


def set_countdown(broadcast: Broadcast, seconds, *, actor: User | None) -> Change:
    """Start a countdown of `seconds` on the teleprompter; 0 or None stops it."""
    if seconds in (None, 0):
        broadcast.countdown_until = None
    elif isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= MAX_COUNTDOWN:
        raise ValidationError(fields={"seconds": ngettext("Between 1 and %(num)s second.",
                                                          "Between 1 and %(num)s seconds.", MAX_COUNTDOWN)})
    else:
        broadcast.countdown_until = utcnow() + timedelta(seconds=seconds)
    audit(actor, "countdown", broadcast, seconds=seconds or 0)
    return ChangeBuilder("countdown_set", broadcast).commit(backstage=True)
