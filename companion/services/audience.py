"""The audience of a live broadcast, counted across every serving process.

Each serving process knows only the viewers connected to it. Every AUDIENCE_SAMPLE_SECONDS it writes
its own count per live broadcast into `audience_count` (one row per broadcast and process); the
audience is the sum of the counts written in the last AUDIENCE_STALE_SECONDS (a process that died
stops counting), and the broadcast keeps the largest sum seen and when (`peak_viewers`, `peak_viewers_at`).
The peak is raised with a conditional UPDATE, so two processes counting at once never lower it."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update

from ..extensions import db
from ..models import AudienceCount, Broadcast, BroadcastStatus, utcnow

PROCESS_MAX_LENGTH = 64  # AudienceCount.process


def audience_now(broadcast_id: int, now: datetime | None = None) -> int:
    """The viewers connected to the broadcast now: the sum of the fresh counts of every process."""
    now = now or utcnow()
    fresh = now - timedelta(seconds=current_app.config["AUDIENCE_STALE_SECONDS"])
    return db.session.execute(select(func.coalesce(func.sum(AudienceCount.viewers), 0)).where(
        AudienceCount.broadcast_id == broadcast_id, AudienceCount.updated_at >= fresh)).scalar_one()


def record(process: str, counts: dict[str, int], now: datetime | None = None) -> dict[int, int]:
    """Store this process's viewer counts {broadcast slug: viewers} for the live broadcasts, zero its
    counts of broadcasts it no longer holds anyone of, and raise each live broadcast's peak when the sum
    over processes is a new high. Returns {broadcast id: audience now} of the broadcasts it counted."""
    now = now or utcnow()
    process = process[:PROCESS_MAX_LENGTH]
    live = dict(db.session.execute(select(Broadcast.slug, Broadcast.id).where(
        Broadcast.status == BroadcastStatus.LIVE.value, Broadcast.slug.in_(list(counts)))).all()) if counts else {}
    for slug, broadcast_id in live.items():
        row = db.session.get(AudienceCount, (broadcast_id, process))
        if row is None:  # only this process writes its rows: no race on the key
            db.session.add(AudienceCount(broadcast_id=broadcast_id, process=process, viewers=max(0, int(counts[slug])),
                                         updated_at=now))
        else:
            row.viewers, row.updated_at = max(0, int(counts[slug])), now
    db.session.execute(update(AudienceCount).where(
        AudienceCount.process == process, AudienceCount.broadcast_id.not_in(list(live.values()) or [-1]),
        AudienceCount.viewers > 0).values(viewers=0, updated_at=now))
    db.session.flush()
    totals = {}
    for broadcast_id in live.values():
        total = totals[broadcast_id] = audience_now(broadcast_id, now)
        db.session.execute(update(Broadcast).where(
            Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.LIVE.value,
            Broadcast.peak_viewers < total).values(peak_viewers=total, peak_viewers_at=now))
    db.session.commit()
    return totals


def forget(broadcast: Broadcast) -> None:
    """Drop the processes' counts of an ended broadcast (its peak stays); the caller commits."""
    db.session.execute(AudienceCount.__table__.delete().where(AudienceCount.broadcast_id == broadcast.id))
