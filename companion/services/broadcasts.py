"""Broadcasts: create, edit, list; the demo broadcast, its categories, departments and topics."""
from __future__ import annotations

import re
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..extensions import db
from ..models import LANGUAGES, Broadcast, BroadcastStatus, Category, Department, Question, Topic, User, utcnow
from .audit import audit
from .fields import Limit
from ..errors import Conflict, ValidationError

SLUG = re.compile(rf"^[a-z0-9][a-z0-9-]{{1,{Limit.SLUG - 1}}}$")
FIELDS = ("title_kk", "title_ru", "title_en", "stream_url", "starts_at", "pre_moderation", "public_feed",
          "anonymous_allowed", "questions_open", "show_asker")


def save_broadcast(values: dict, broadcast: Broadcast | None = None, *, actor: User | None = None) -> Broadcast:
    """Create a broadcast (when `broadcast` is None) or update it from form values."""
    if broadcast is None:
        slug = (values.get("slug") or "").strip().lower()
        if not SLUG.match(slug):
            raise ValidationError(fields={"slug": _l("2 to 63 lowercase letters, digits and dashes.")})
        if db.session.execute(select(Broadcast.id).where(Broadcast.slug == slug)).first():
            raise Conflict(_l("This address is taken."), fields={"slug": _l("This address is taken.")})
        broadcast = Broadcast(slug=slug)
        db.session.add(broadcast)
    if not any((values.get(f"title_{lang}") or "").strip() for lang in LANGUAGES):
        raise ValidationError(fields={"title_kk": _l("Give a title in at least one language.")})
    stream = (values.get("stream_url") or "").strip()
    if stream and not stream.startswith("https://"):
        raise ValidationError(fields={"stream_url": _l("The stream address must start with https://")})
    for key in FIELDS:
        if key in values:
            value = values[key]
            setattr(broadcast, key, value.strip() if isinstance(value, str) else value)
    db.session.flush()
    audit(actor, "broadcast_saved", broadcast)
    db.session.commit()
    return broadcast


def list_broadcasts() -> list[tuple[Broadcast, int]]:
    """Every broadcast, newest first, with its number of questions."""
    counts = (select(Question.broadcast_id, func.count().label("n")).group_by(Question.broadcast_id).subquery())
    rows = db.session.execute(select(Broadcast, func.coalesce(counts.c.n, 0))
                              .outerjoin(counts, counts.c.broadcast_id == Broadcast.id)
                              .order_by(Broadcast.created_at.desc(), Broadcast.id.desc()))
    return [(b, n) for b, n in rows]


def open_broadcasts() -> list[Broadcast]:
    """Broadcasts residents can join now or soon (live first)."""
    rows = db.session.execute(select(Broadcast).where(Broadcast.status != BroadcastStatus.ENDED)
                              .order_by(Broadcast.status.desc(), Broadcast.starts_at, Broadcast.id)).scalars()
    return list(rows)


DEMO_CATEGORIES = [
    ("Көліктер мен жолдар", "Транспорт и дороги", "Transport and roads"),
    ("Тұрғын үй-коммуналдық шаруашылық", "ЖКХ", "Housing and utilities"),
    ("Абаттандыру", "Благоустройство", "Public spaces"),
    ("Білім беру", "Образование", "Education"),
    ("Денсаулық сақтау", "Здравоохранение", "Health"),
    ("Әлеуметтік қолдау", "Социальная поддержка", "Social support"),
]
# the demo categories' keywords (kk, ru, en), which suggest a category for a question on the desk
DEMO_KEYWORDS = [
    "автобус\nаялдама\nжол\nшұңқыр\nбағдар\nавтобус\nостановка\nдорога\nяма\nмаршрут\nсветофор\nпарковка\n"
    "тротуар\nbus\nroad\npothole\nroute\nparking",
    "жылу\nлифт\nсу\nкәріз\nтариф\nтөлем\nотопление\nбатарея\nгорячая вода\nводы\nканализация\nтариф\n"
    "квитанция\nкоммунальные\nheating\nlift\nelevator\nwater\nbill\ntariff",
    "аула\nалаң\nжарық\nшам\nқар\nқоқыс\nағаш\nит\nдвор\nдетская площадка\nосвещение\nфонари\nснег\n"
    "мусор\nдеревья\nсобаки\nyard\nplayground\nlighting\nsnow\ngarbage\ndogs",
    "балабақша\nмектеп\nсынып\nдетский сад\nсадик\nшкола\nкласс\nkindergarten\nschool",
    "емхана\nаурухана\nдәрігер\nполиклиника\nбольница\nврач\nclinic\nhospital\ndoctor",
    "жәрдемақы\nкөмек\nзейнетақы\nпособие\nпомощь\nпенсия\nмногодетн\nbenefit\npension",
]
# the demo departments, one per demo category above (same order)
DEMO_DEPARTMENTS = [
    ("Жолаушылар көлігі және автомобиль жолдары бөлімі", "Отдел пассажирского транспорта и автодорог",
     "Passenger transport and roads department"),
    ("Тұрғын үй-коммуналдық шаруашылық бөлімі", "Отдел жилищно-коммунального хозяйства", "Housing and utilities department"),
    ("Абаттандыру бөлімі", "Отдел благоустройства", "Public spaces department"),
    ("Білім бөлімі", "Отдел образования", "Education department"),
    ("Денсаулық сақтау бөлімі", "Отдел здравоохранения", "Health department"),
    ("Жұмыспен қамту және әлеуметтік бағдарламалар бөлімі", "Отдел занятости и социальных программ",
     "Employment and social programmes department"),
]


# the demo topics (kk, ru, en) and their keyword rules in the three languages (services/topics.py)
DEMO_TOPICS = [
    (("Жолдар", "Дороги", "Roads"),
     "жол\nшұңқыр\nасфальт\nдорога\nяма\nтротуар\nroad\npothole\npavement"),
    (("Көше жарығы", "Освещение", "Street lighting"),
     "жарық\nжарығы\nшам\nфонарь\nосвещение\nтемно\nstreetlight\nlighting\nlamp"),
    (("Жылу", "Отопление", "Heating"),
     "жылу\nжылыту\nбатарея\nотопление\nхолодно в квартире\nheating\nradiator"),
    (("Аулалар", "Дворы", "Yards"),
     "аула\nалаң\nдвор\nдетская площадка\nyard\nplayground\ncourtyard"),
    (("Қоғамдық көлік", "Общественный транспорт", "Public transport"),
     "автобус\nаялдама\nмаршрут\nостановка\nтранспорт\nbus\nbus stop\npublic transport"),
]


def seed_demo(starts_at: datetime | None = None) -> Broadcast:
    """Create the demo broadcast `demo`, the demo categories and their departments, and the demo topics (once)."""
    broadcast = db.session.execute(select(Broadcast).where(Broadcast.slug == "demo")).scalar_one_or_none()
    if broadcast is None:
        broadcast = Broadcast(slug="demo", title_kk="Әкіммен тікелей эфир", title_ru="Прямой эфир с акимом района",
                              title_en="Live Q&A with the district akim", status=BroadcastStatus.LIVE.value,
                              starts_at=starts_at, pre_moderation=True,
                              # live from now, as "Start broadcast" records it: the moments of its promises
                              # count from here, and ending the rehearsal e-mails its report
                              started_at=utcnow())
        db.session.add(broadcast)
    if not db.session.execute(select(Category.id)).first():
        for (kk, ru, en), (dkk, dru, den), words in zip(DEMO_CATEGORIES, DEMO_DEPARTMENTS, DEMO_KEYWORDS):
            department = Department(name_kk=dkk, name_ru=dru, name_en=den)
            db.session.add(Category(name_kk=kk, name_ru=ru, name_en=en, department=department, keywords=words))
    if not db.session.execute(select(Topic.id)).first():
        for (kk, ru, en), words in DEMO_TOPICS:
            db.session.add(Topic(name_kk=kk, name_ru=ru, name_en=en, keywords=words))
    db.session.commit()
    return broadcast


def rotate_overlay_key(broadcast: Broadcast, *, actor: User | None) -> str:
    """Give the broadcast a new overlay key: the old overlay address stops working."""
    import secrets
    broadcast.overlay_key = secrets.token_urlsafe(24)
    audit(actor, "overlay_key_rotated", broadcast)
    db.session.commit()
    return broadcast.overlay_key


def overlay_key_matches(broadcast: Broadcast, key: str | None) -> bool:
    """True when `key` is the broadcast's overlay key (compared in constant time)."""
    import hmac
    # as bytes: compare_digest refuses a str with other than ASCII letters (a TypeError, a 500 for "?key=é")
    return bool(key) and bool(broadcast.overlay_key) and hmac.compare_digest(
        str(key).encode("utf-8", "surrogatepass"), broadcast.overlay_key.encode())
