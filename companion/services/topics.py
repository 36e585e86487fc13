"""Topic tags beyond the single category: keyword rules per topic in kk/ru/en that admins edit, applied as
appeals arrive and again on demand, shown to staff as suggestions they confirm or remove.

A rule is one word or phrase a line, in any of the three languages. It matches an appeal when its words
occur in the appeal's text in that order, each compared after the normalisation the desk's duplicates use
(similarity.text_stems and keyword_stems: letters folded, Russian/English Snowball stems and Kazakh endings
cut), so "дорога" matches "дороги", "жол" matches "жолдары" and "streetlight" matches "streetlights". An
appeal gets every topic one of whose rules matches.

An appeal's topics are rows of appeal_topic: `suggested` by the rules, `confirmed` or `removed` by staff.
The rules are applied in the transaction that registers an appeal (appeals._new_appeals, every channel).
Applied again (`request_retag`: the admin's button, or `python -m companion retag`), they add and drop
suggestions only: what staff confirmed or removed stays. That runs newest appeals first, a batch of
RETAG_BATCH per transaction, taken by whichever serving process (or the command) claims it next, so a
million appeals never hold a request: the button does the first batch and the serving processes the rest."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..durability import run_blocking
from ..runtime import runtime
from ..extensions import db
from ..models import LANGUAGES, Appeal, AppealEvent, AppealTopic, Topic, TopicRun, TopicState, User, utcnow
from .audit import audit
from ..errors import Conflict, NotFound, StaleVersion, ValidationError
from .fields import UNSTORABLE_MESSAGE, Limit, at_most_characters, parse_id, parse_version, storable
from .language import NAME_FIELDS, detect_language
from .similarity import keyword_stems, only_stop_words, text_stems

log = logging.getLogger(__name__)

SUGGESTED, CONFIRMED, REMOVED = TopicState.SUGGESTED.value, TopicState.CONFIRMED.value, TopicState.REMOVED.value
SHOWN = (SUGGESTED, CONFIRMED)  # what the list's filter, the export and the analytics count
RETAG_BATCH = 500  # appeals per transaction when the rules are applied again
IN_THREAD_ABOVE = 50  # appeals whose texts are matched in a real thread (off the event loop) at once
IDLE_SECONDS = 5.0  # how often a serving process looks for a re-application to work on
BATCH_PAUSE_SECONDS = 0.1  # between two batches: the other connections run
RUNNING, DONE, SUPERSEDED = "running", "done", "superseded"

# staff's choices on an appeal's page, and how its history names them (the topic's name as it was then)
CHOICES = {"confirm": CONFIRMED, "remove": REMOVED}
EVENT_LABELS = {"topic_confirmed": _l("Topic confirmed: %(topic)s"), "topic_removed": _l("Topic removed: %(topic)s")}
STATE_LABELS = {SUGGESTED: _l("suggested"), CONFIRMED: _l("confirmed"), REMOVED: _l("removed")}
RUN_STATES = {RUNNING: _l("under way"), DONE: _l("done"), SUPERSEDED: _l("started again")}


# ---- the rules -----------------------------------------------------------------------------------

@dataclass
class Rules:
    """Every active topic's keywords, indexed by each stem their first word may have: a text is read once."""

    first: dict = field(default_factory=dict)  # stem -> [(the stems of the other words, topic id)]

    def __bool__(self) -> bool:
        return bool(self.first)


def compile_rules(rows: Iterable[tuple[int, str]]) -> Rules:
    """The rules of (topic id, keywords) rows."""
    rules = Rules()
    for topic_id, keywords in rows:
        for line in (keywords or "").splitlines():
            words = keyword_stems(line)
            if not words or only_stop_words(line):  # a rule saved before such lines were refused
                continue
            rest = tuple(frozenset(stems) for stems in words[1:])
            for stem in words[0]:
                rules.first.setdefault(stem, []).append((rest, topic_id))
    return rules


def match(rules: Rules, text: str, language: str | None = None) -> set[int]:
    """The topics one of whose keywords occurs in `text` (its words in order, each as the similarity cuts it).
    A text whose words are Kazakh is cut as Kazakh whatever language it was sent in (a Kazakh question asked
    from the Russian page): "осы жылы" is not the heating keyword "жылу" there either."""
    if language != "kk" and detect_language(text or "") == "kk":
        language = "kk"
    words = text_stems(text, language)
    found: set[int] = set()
    last = len(words) - 1
    for i, stems in enumerate(words):
        for stem in stems:
            for rest, topic_id in rules.first.get(stem, ()):
                if topic_id in found or i + len(rest) > last:
                    continue
                if all(not words[i + 1 + j].isdisjoint(wanted) for j, wanted in enumerate(rest)):
                    found.add(topic_id)
    return found


def current_rules() -> Rules:
    """The active topics' rules, compiled once per change: each save takes the next version, so the count and
    the sum of versions (one small query) tell this process when another one changed them."""
    key = tuple(db.session.execute(select(func.count(Topic.id), func.coalesce(func.sum(Topic.version), 0))).one())
    cached = runtime().topic_rules
    if cached is not None and cached[0] == key:
        return cached[1]
    rules = compile_rules(db.session.execute(select(Topic.id, Topic.keywords).where(Topic.active.is_(True))
                                             .order_by(Topic.id)).all())
    runtime().topic_rules = (key, rules)
    return rules


def suggest_new(appeals: list[Appeal]) -> None:
    """Store the topics the rules suggest for appeals just registered (joins their transaction: one INSERT)."""
    rules = current_rules()
    if not rules or not appeals:
        return
    rows = [dict(appeal_id=a.id, topic_id=t, state=SUGGESTED)
            for a in appeals for t in sorted(match(rules, a.text, a.language))]
    if rows:
        db.session.execute(insert(AppealTopic.__table__), rows)


# ---- the topics, as admins keep them -----------------------------------------------------------------

def all_topics() -> list[Topic]:
    """Every topic: the active ones first, then by id."""
    return list(db.session.execute(select(Topic).order_by(Topic.active.desc(), Topic.id)).scalars())


def active_topics() -> list[Topic]:
    return list(db.session.execute(select(Topic).where(Topic.active.is_(True)).order_by(Topic.id)).scalars())


def parse_keywords(text) -> list[str]:
    """The keyword lines typed (blank lines and repeats dropped), or ValidationError on `keywords` naming the
    first bad line: too long, unstorable, or without a word."""
    if not isinstance(text, str):
        text = ""
    words: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        line = " ".join(line.split())
        if not line:
            continue
        problem = None
        if not storable(line):
            problem = UNSTORABLE_MESSAGE
        elif len(line) > Limit.TOPIC_KEYWORD:
            problem = at_most_characters(Limit.TOPIC_KEYWORD)
        elif not keyword_stems(line):
            problem = _l("Type a word or a phrase.")
        elif only_stop_words(line):
            problem = _l("“%(keyword)s” is in almost every text: type a word that names the topic.", keyword=line)
        if problem is not None:
            raise ValidationError(fields={"keywords": _l("Line %(n)s: %(problem)s", n=number, problem=problem)})
        if line.casefold() not in seen:
            seen.add(line.casefold())
            words.append(line)
    if len(words) > Limit.TOPIC_KEYWORDS:
        raise ValidationError(fields={"keywords": ngettext("At most %(num)s keyword.", "At most %(num)s keywords.",
                                                           Limit.TOPIC_KEYWORDS)})
    return words


def validate_topic(values) -> dict:
    """A topic's fields from a form: the three names (required, at most TOPIC_NAME) and the keywords; every
    bad field named at once."""
    errors: dict = {}
    clean: dict = {}
    for key in NAME_FIELDS:
        value = values.get(key)
        value = value.strip() if isinstance(value, str) else ""
        if not storable(value):
            errors[key] = UNSTORABLE_MESSAGE
        elif not value:
            errors[key] = _l("This field is required.")
        elif len(value) > Limit.TOPIC_NAME:
            errors[key] = at_most_characters(Limit.TOPIC_NAME)
        clean[key] = value
    try:
        clean["keywords"] = "\n".join(parse_keywords(values.get("keywords")))
    except ValidationError as exc:
        errors.update(exc.fields)
    clean["active"] = values.get("active") in ("1", "on", "true", True)
    if errors:
        raise ValidationError(fields=errors)
    return clean


def get_topic(topic_id) -> Topic:
    topic_id = parse_id(topic_id)
    topic = db.session.get(Topic, topic_id) if topic_id else None
    if topic is None:
        raise NotFound(_l("This topic does not exist."))
    return topic


def _stale(topic: Topic) -> StaleVersion:
    return StaleVersion(_l("Someone else saved this topic meanwhile. Your form is below as you typed it; "
                           "check what is saved now and save again to replace it."), current_version=topic.version)


def save_topic(values, topic_id=None, *, actor: User | None) -> Topic:
    """Create a topic (`topic_id` None) or change its names, keywords and whether it is active, from a form
    of the version the topic had when it was shown (`version`): StaleVersion if another admin saved it
    since, as saving the form would undo their change unseen. The new rules apply to appeals registered
    from now on; `request_retag` applies them to the others."""
    if topic_id is None:
        topic = Topic(version=0)
        seen = 0
    else:
        topic = get_topic(topic_id)
        raw = values.get("version")
        seen = parse_version(raw) if isinstance(raw, str) and raw else None
        if seen is None:
            raise ValidationError(_l("Invalid version."), fields={"version": _l("Invalid version.")})
        if seen != topic.version:
            raise _stale(topic)
    clean = validate_topic(values)
    now = utcnow()
    if topic.id is None:
        for key, value in clean.items():
            setattr(topic, key, value)
        topic.version, topic.updated_at = 1, now
        db.session.add(topic)
        db.session.flush()
    # the write is claimed where the version still is the one the form was of: of two admins saving at once,
    # the second is told, not silently overwriting the first
    elif db.session.execute(update(Topic).where(Topic.id == topic.id, Topic.version == seen)
                            .values(**clean, version=seen + 1, updated_at=now)
                            .execution_options(synchronize_session=False)).rowcount != 1:
        db.session.rollback()
        raise _stale(get_topic(topic_id))
    else:
        db.session.refresh(topic)
    audit(actor, "topic_saved", topic=topic.id, active=topic.active, keywords=len(clean["keywords"].splitlines()))
    db.session.commit()
    return topic


# ---- an appeal's topics ------------------------------------------------------------------------------

def of_appeal(appeal: Appeal) -> list[AppealTopic]:
    """The appeal's topics, with their topic: confirmed, then suggested, then removed."""
    order = {CONFIRMED: 0, SUGGESTED: 1, REMOVED: 2}
    rows = db.session.execute(select(AppealTopic).join(Topic).where(AppealTopic.appeal_id == appeal.id)
                              .order_by(Topic.id)).scalars().all()
    return sorted(rows, key=lambda row: order.get(row.state, 3))


def choose(appeal: Appeal, topic_id, choice, *, actor: User) -> Appeal:
    """Staff confirm a topic on the appeal (a suggested one, or one they add) or remove it (the rules, applied
    again, will not suggest it back). A step in the history, internal; the appeal takes its next version."""
    if choice not in CHOICES:
        raise ValidationError(fields={"choice": _l("Confirm or remove a topic.")})
    topic_id = parse_id(topic_id)
    topic = db.session.get(Topic, topic_id) if topic_id else None
    if topic is None:
        raise ValidationError(fields={"topic_id": _l("This topic does not exist.")})
    row = db.session.get(AppealTopic, (appeal.id, topic.id))
    state = CHOICES[choice]
    if row is not None and row.state == state:
        return appeal  # already so (a form sent twice): no second step in the history, no new version
    if row is None:
        if state == REMOVED:
            raise ValidationError(fields={"topic_id": _l("This topic is not on the appeal.")})
        if not topic.active:
            raise ValidationError(fields={"topic_id": _l("This topic is switched off.")})
        row = AppealTopic(appeal_id=appeal.id, topic_id=topic.id)
        db.session.add(row)
    before = row.state
    row.state, row.decided_by_id, row.decided_at = state, actor.id, utcnow()
    appeal.version += 1
    appeal.updated_at = utcnow()
    action = "topic_confirmed" if state == CONFIRMED else "topic_removed"
    db.session.add(AppealEvent(appeal=appeal, action=action, actor_id=actor.id, from_status=appeal.status,
                               to_status=appeal.status, public=False, at=utcnow(),
                               detail={"topic": topic.id, "was": before,
                                       "names": {lang: topic.name(lang) for lang in LANGUAGES}}))
    audit(actor, "appeal_" + action, appeal=appeal.tracking_code, topic=topic.id)
    try:
        db.session.commit()
    except IntegrityError:  # the rules suggested it this very moment (a re-application's batch)
        db.session.rollback()
        raise Conflict(_l("The topics of this appeal changed meanwhile. Please try again.")) from None
    return appeal


def event_label(event: AppealEvent, locale: str) -> str | None:
    """How the history names a topic step, with the topic's name as it was then (None: not a topic step)."""
    label = EVENT_LABELS.get(event.action)
    if label is None:
        return None
    names = event.detail.get("names") or {}
    name = next((names[lang] for lang in (locale, *LANGUAGES) if names.get(lang)), "")
    return str(label) % {"topic": name}


def condition(topic_id: int):
    """SQL: the appeal has this topic, suggested or confirmed (the list's filter)."""
    return Appeal.id.in_(select(AppealTopic.appeal_id).where(AppealTopic.topic_id == topic_id,
                                                             AppealTopic.state.in_(SHOWN)))


def topic_names(locale: str) -> dict[int, str]:
    """Every topic's name in `locale`, by id."""
    return {t.id: t.name(locale) for t in db.session.execute(select(Topic)).scalars()}


def names_by_appeal(appeal_ids: list[int], names: dict[int, str]) -> dict[int, str]:
    """For the export: each appeal's topics (names from `topic_names`), the confirmed ones first, a
    suggestion marked so."""
    if not appeal_ids:
        return {}
    suggested = str(_l("suggested"))
    found: dict[int, tuple[list, list]] = {}
    for appeal_id, topic_id, state in db.session.execute(
            select(AppealTopic.appeal_id, AppealTopic.topic_id, AppealTopic.state)
            .where(AppealTopic.appeal_id.in_(appeal_ids), AppealTopic.state.in_(SHOWN))):
        confirmed, maybe = found.setdefault(appeal_id, ([], []))
        (confirmed if state == CONFIRMED else maybe).append(names.get(topic_id, ""))
    return {appeal_id: ", ".join([*sorted(confirmed), *(f"{n} ({suggested})" for n in sorted(maybe))])
            for appeal_id, (confirmed, maybe) in found.items()}


# ---- applied again on demand -----------------------------------------------------------------------

def latest_run() -> TopicRun | None:
    return db.session.execute(select(TopicRun).order_by(TopicRun.id.desc()).limit(1)).scalar_one_or_none()


def rules_changed_since(run: TopicRun | None) -> bool:
    """True when a topic was saved after `run` was asked for (or never applied again)."""
    saved = db.session.execute(select(func.max(Topic.updated_at))).scalar()
    return saved is not None and (run is None or saved > run.requested_at)


def request_retag(actor: User | None) -> TopicRun:
    """Apply the rules again to every appeal registered so far, newest first; one still under way starts
    over (the rules may have changed since it began)."""
    now = utcnow()
    db.session.execute(update(TopicRun).where(TopicRun.state == RUNNING).values(state=SUPERSEDED, finished_at=now))
    top = db.session.execute(select(func.max(Appeal.id))).scalar() or 0
    run = TopicRun(requested_by_id=actor.id if actor else None, requested_at=now, top_id=top, below_id=top + 1,
                   done=0, changed=0, state=RUNNING)
    db.session.add(run)
    db.session.flush()
    audit(actor, "topics_reapplied", run=run.id, appeals=top)
    db.session.commit()
    return run


def _matches(rules: Rules, texts: list[tuple[int, str, str]]) -> set[tuple[int, int]]:
    return {(appeal_id, topic_id) for appeal_id, text, language in texts for topic_id in match(rules, text, language)}


def retag_batch(run_id: int, batch_size: int = RETAG_BATCH) -> bool:
    """Apply the rules to the next `batch_size` appeals of the run, in one transaction that also moves the run
    on (claimed where it still stands where it was read: of two processes, one does the batch). Returns
    False once the run is over (or gone), True while there may be more."""
    row = db.session.execute(select(TopicRun.below_id, TopicRun.state).where(TopicRun.id == run_id)).one_or_none()
    if row is None or row.state != RUNNING:
        db.session.rollback()
        return False
    below = row.below_id
    texts = [tuple(r) for r in db.session.execute(
        select(Appeal.id, Appeal.text, Appeal.language).where(Appeal.id < below).order_by(Appeal.id.desc())
        .limit(batch_size))]
    rules = current_rules()
    db.session.rollback()  # no transaction stays open while the texts are matched
    where = (TopicRun.id == run_id, TopicRun.below_id == below, TopicRun.state == RUNNING)
    if not texts:
        db.session.execute(update(TopicRun).where(*where).values(state=DONE, finished_at=utcnow()))
        db.session.commit()
        return False
    wanted = run_blocking(lambda: _matches(rules, texts)) if len(texts) > IN_THREAD_ABOVE else _matches(rules, texts)
    ids = [t[0] for t in texts]
    try:
        # the claim first: it takes the write lock (SQLite) or the run's row (PostgreSQL) before anything is read
        last = len(ids) < batch_size  # nothing older is left: the run ends with this batch
        if db.session.execute(update(TopicRun).where(*where).values(
                below_id=ids[-1], done=TopicRun.done + len(ids),
                **({"state": DONE, "finished_at": utcnow()} if last else {}))).rowcount != 1:
            db.session.rollback()
            return True
        have = {(a, t): state for a, t, state in db.session.execute(
            select(AppealTopic.appeal_id, AppealTopic.topic_id, AppealTopic.state)
            .where(AppealTopic.appeal_id.in_(ids)))}
        stale = [{"a": a, "t": t} for (a, t), state in have.items() if state == SUGGESTED and (a, t) not in wanted]
        new = [dict(appeal_id=a, topic_id=t, state=SUGGESTED) for a, t in sorted(wanted) if (a, t) not in have]
        if stale:
            table = AppealTopic.__table__
            db.session.execute(delete(table).where(table.c.appeal_id == bindparam("a"),
                                                   table.c.topic_id == bindparam("t"), table.c.state == SUGGESTED), stale)
        if new:
            db.session.execute(insert(AppealTopic.__table__), new)
        changed = len({r["a"] for r in stale} | {r["appeal_id"] for r in new})
        if changed:
            db.session.execute(update(TopicRun).where(TopicRun.id == run_id).values(changed=TopicRun.changed + changed))
        db.session.commit()
    except IntegrityError:  # staff added one of these topics meanwhile: the batch is done again
        db.session.rollback()
        return True
    return not last


def running_runs() -> list[int]:
    return list(db.session.execute(select(TopicRun.id).where(TopicRun.state == RUNNING).order_by(TopicRun.id)).scalars())


def work(max_batches: int | None = None, batch_size: int = RETAG_BATCH) -> int:
    """Do batches of the runs under way until they end (or `max_batches`); returns how many were done."""
    done = 0
    for run_id in running_runs():
        while max_batches is None or done < max_batches:
            done += 1
            if not retag_batch(run_id, batch_size):
                break
    return done


def retag_forever(app, sleep: Callable[[float], None]) -> None:
    """Background task of a serving process: work on a re-application a batch at a time, forever."""
    busy = False
    while True:
        sleep(BATCH_PAUSE_SECONDS if busy else IDLE_SECONDS)
        with app.app_context():
            try:
                busy = work(max_batches=1) > 0
            except Exception as exc:  # noqa: BLE001 - by type only; the batch is claimed again next round
                log.error("topics re-application round failed: %s", type(exc).__name__)
                db.session.rollback()
                busy = False
            finally:
                db.session.remove()
