"""Likely duplicates among a broadcast's questions, and the category their words suggest.

Residents ask the same thing in other words, in Kazakh and Russian, with Kazakh letters typed as
Russian look-alikes, typos and addresses written four ways. A question becomes a set of word stems
(letters folded, Russian/English Snowball stems cut to a few letters, stop and address words
dropped), a set of consonant skeletons (so "атопление" meets "отопление") and its numbers (house,
bus, kindergarten: a different number is a different question) and the city's streets it names
(two streets, two places: lexicon.STREETS). Two questions score by their
shared stems weighted by rarity in the broadcast (IDF), with a lighter weight for a skeleton or
a typo-close stem (rapidfuzz), times a penalty when their numbers disagree. An inverted index
finds the candidates, so a new question is scored against the few that share a word with it,
not against every question of the broadcast.
"""
from __future__ import annotations

import heapq
import itertools
import math
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache

import snowballstemmer
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from sqlalchemy import func, select

from ..durability import run_blocking
from ..extensions import db
from ..models import OPEN_QUESTION_STATUSES, Category, Question, QuestionStatus
from ..runtime import runtime
from .language import KAZAKH_LETTERS
from .lexicon import FOLD, street_of, topics_of

S = QuestionStatus

WORD = re.compile(r"[a-zа-я]+|\d+")
KAZAKH_WORD = re.compile(r"[a-zа-яёқөүұәіғңһ]+|\d+")
# words after a number that make it an amount, not a house, bus or school (folded beginnings)
AMOUNT_UNITS = tuple("""
лет год жыл месяц недел апта ден дне дня кун сагат час минут мин секунд тысяч мын млн тенге тг процент
раз рет км метр человек адам year month week day hour minute min second percent times people thousand
""".split())
TIME_OF_DAY = re.compile(r"\b\d{1,2}[:.]\d{2}\b")
STEM_LENGTH = 5
# Words that carry no topic: question words, greetings, pronouns, particles, address words (the
# street name and the number carry the place). In folded spelling (қашан → кашан).
STOP = frozenset("""
когда почему зачем где куда сколько какой какая какие каким будет будут было был была быть есть нет
ли и а но или в во на по у с со к ко из о об от до за для при про над под без через уже еще ещё же бы
не ни то это эта этот эти тот что чтобы как так там тут здесь вот все всё всем очень просто
мы нас нам наш наша наше наши нашем нашей нашего вы вас вам ваш они их им он она его ее её мне меня я
можно нужно надо пожалуйста здравствуйте добрый доброе день вечер утро спасибо уважаемый уважаемая
аким акимат акима вопрос вопросы вообще опять снова год года лет сегодня сейчас скоро когдато
ул улица улице улицы улицу д дом доме дома кв квартира пр проспект проспекте мкр микрорайон микрорайоне
район района районе р н жк
кашан неге не нега ма ме ба бе па пе ги ки гой кой жане мен бен пен бар жок бул осы сол мына биз
бизде биздин бизге сиз сиздер сизге деген ушин туралы салеметсиз салем курметти аким акимдиги
ауданы ауданында аудан кошеси кошесинде коше уй уйи уйде уйдин шагынаудан шагынауданы мекенжай жыл
ган ген кан кен да де та те ды ди ты ти ме еди еди болады бола болма ма
when will the a an is are be been in on at of to for and or why what how where our we us my me i you
please hello hi there do does did it its this that these with by from near street st house no not
""".translate(FOLD).split())
# stems that say nothing of the place or the problem ("батыр" and "даңғыл" are in half the street names)
STOP_STEMS = frozenset("""
батыр дангы проспе кто бир бер алмаи недел ек жатыр посл ход сдела утр тур невоз люд киреб нов истем жан
час месяц эт кеиин журги бо ве distri аудан year дела возл ал дом can тунд беред журед больш кетт минут коп
лет чем год дадут жанын ем ка алуг деид so get still again month week day
""".split())
# Kazakh endings in folded spelling (ғ→г, қ→к, ң→н, і→и, ұ/ү→у, ө→о, ә→а), longest first
KAZAKH_SUFFIXES = tuple(sorted(set("""
лар лер дар дер тар тер
ымыз имиз ыныз иниз нымыз ниниз лары лери дары дери тары тери
ым им ын ин сы си ы и
нын нин дын дин тын тин
нда нде да де та те ндагы ндеги дагы деги тагы теги
нан нен дан ден тан тен
га ге ка ке на не
ны ни ды ди ты ти
мен бен пен
майды мейди байды бейди пайды пейди маиды меиди баиды беиди паиды пеиди
маи меи баи беи паи пеи
ады еди иди ыды
ган ген кан кен
уге уга
""".split()), key=lambda s: (-len(s), s)))
_SUFFIXES_BY_LENGTH = {n: frozenset(x for x in KAZAKH_SUFFIXES if len(x) == n) for n in {len(x) for x in KAZAKH_SUFFIXES}}
_SUFFIX_LENGTHS = sorted(_SUFFIXES_BY_LENGTH, reverse=True)
SKELETON_VOWELS = str.maketrans("", "", "аеиоуыэюяьъaeiouy")
# a stem this close to another (Levenshtein similarity) counts as the same word, misspelt
TYPO_SIMILARITY = 0.8
SKELETON_WEIGHT = 0.75
TYPO_WEIGHT = 0.7
NUMBERS_DISAGREE = 0.35   # "Кенесары 40" and "Кенесары 42" are two questions
NUMBERS_ONE_SIDED = 0.85
TOPIC_ALONE = 0.35       # the same topic, nothing else alike
TOPIC_WITH_NUMBER = 0.5  # the same topic and the same number ("32 автобус", "поликлиника 4")
TOPICS_DISAGREE = 0.7    # both name a topic, and none is shared
PLACES_UNKNOWN = 0.3     # one side names no place
STREETS_DISAGREE = 0.5   # both name a street of the city, and none is the same
STREETS_PARTLY = 0.5     # one street the same, and each names another
# a pair at or above this score is shown as a likely duplicate (tests/test_similarity.py measures it)
THRESHOLD = 0.45
# the selected question's panel lists weaker likenesses too: the moderator decides
SUGGEST_THRESHOLD = 0.3
CANDIDATES = 15
RECENT_PER_KEY = 400
LATE_COMMIT = timedelta(seconds=5)
WINDOW_CHECK_SECONDS = 1.0
IN_POOL_ABOVE = 50       # more questions to fingerprint at once than this go to the pool's thread
# questions that may still be merged or merged into (answered ones gather late askers too)
OPEN = OPEN_QUESTION_STATUSES  # only questions still in play are grouped

_russian = snowballstemmer.stemmer("russian")
_english = snowballstemmer.stemmer("english")


@dataclass(frozen=True)
class Fingerprint:
    """What a question's text comes down to for comparison."""

    stems: frozenset
    skeletons: frozenset
    numbers: frozenset
    topics: frozenset = frozenset()
    places: frozenset = frozenset()   # stems that name no topic: streets, districts, details
    skeleton_of: dict = field(default_factory=dict, compare=False, hash=False)  # stem -> its skeleton
    streets: frozenset = frozenset()  # the city's streets and districts it names (lexicon.STREETS)


def _stem(word: str, kazakh: str | None = None) -> str:
    """The word's stem: English or Russian Snowball, or `kazakh` (the word without its Kazakh endings)."""
    if word.isascii():
        return _english.stemWord(word)[:STEM_LENGTH + 1]
    if kazakh is not None:
        return kazakh[:STEM_LENGTH]
    return _russian.stemWord(word)[:STEM_LENGTH]


def kazakh_stem(word: str) -> str:
    """A folded Kazakh word without its case, possessive, plural and common verb endings, outermost
    first ("ауласындагы" → "аула", "шамдар" → "шам", "истемейди" → "исте"); at least three letters stay."""
    for _ in range(4):
        for length in _SUFFIX_LENGTHS:
            if len(word) - length >= max(3, 5 - length) and word[-length:] in _SUFFIXES_BY_LENGTH[length]:
                word = word[:-length]
                break
        else:
            break
    return word


# --- words of a text, for keyword rules (the topics: services/topics.py) ---
# A stem is tagged with how it was cut ("r:" Russian, "k:" Kazakh, "e:" English, "#" a number), so two
# words agree only when cut the same way: the Russian stemmer takes the "у" off Kazakh "жылу" (heating),
# and "жыл" (a year) must not match it.

# A Kazakh word cut as Russian to a stop word's cut is that word inflected, not Russian: "жылы" (in the year;
# warm) cuts to "жыл" as Kazakh "жылу" (heating) does, so "осы жылы" must not read as heating.
_STOP_CUT_AS_RUSSIAN = frozenset(_stem(word) for word in STOP if not word.isascii())


@lru_cache(maxsize=8192)  # the words residents use most, a few MB at most
def word_stems(raw: str, kazakh: bool = False) -> frozenset:
    """A lower-case word of a text as `fingerprint` cuts it: letters folded (FOLD), then a number as it is,
    an English word its Snowball stem, a word with a Kazakh letter (or any word when `kazakh`: a Kazakh
    text) its Kazakh stem, any other its Russian Snowball stem. A word of a Kazakh text with no Kazakh letter
    may be Russian ("дороги"), so it gets its Russian stem too, unless it is a stop word ("жыл")."""
    word = raw.translate(FOLD)
    if word.isdigit():
        return frozenset(("#" + (word.lstrip("0") or "0"),))
    if word.isascii():
        return frozenset(("e:" + _stem(word),))
    plain = KAZAKH_LETTERS.isdisjoint(raw)
    if plain and not kazakh:
        return frozenset(("r:" + _stem(word),))
    forms = {"k:" + _stem(word, kazakh_stem(word))}
    if plain and word not in STOP and _stem(word) not in _STOP_CUT_AS_RUSSIAN:
        forms.add("r:" + _stem(word))
    return frozenset(forms)


def text_stems(text: str, language: str | None = None) -> list[frozenset]:
    """Each word of a text, in order, as `word_stems` (a Kazakh text's words cut as Kazakh); none dropped."""
    kazakh = language == "kk"
    return [word_stems(raw, kazakh) for raw in KAZAKH_WORD.findall((text or "").lower())]


def keyword_stems(phrase: str) -> list[tuple[str, ...]]:
    """Each word of a keyword, in order, as every stem it may have: typed in any of the three languages, a
    Cyrillic word is cut both as Russian and as Kazakh (a text's word matches it when cut the same way)."""
    words = []
    for raw in KAZAKH_WORD.findall((phrase or "").lower()):
        word = raw.translate(FOLD)
        if word.isdigit() or word.isascii():
            words.append(tuple(word_stems(raw)))
        else:
            words.append(("r:" + _stem(word), "k:" + _stem(word, kazakh_stem(word))))
    return words


def only_stop_words(phrase: str) -> bool:
    """Whether every word of a phrase is one that almost every text has ("и", "және мен", "the")."""
    words = KAZAKH_WORD.findall((phrase or "").lower())
    return bool(words) and all(word.translate(FOLD) in STOP for word in words)


def fingerprint(text: str, language: str | None = None) -> Fingerprint:
    """The stems, skeletons and numbers of a question's text. Words are cut as Kazakh in a Kazakh
    question, and wherever a word has a Kazakh letter. A time of day ("после 22:00") and an amount ("3 года",
    "40 минут", "38 тысяч") are no numbers: they do not tell one house or bus from another."""
    stems, topics, places, streets = set(), set(), set(), set()
    numbers: list[str] = []
    after_number = False
    for raw in KAZAKH_WORD.findall(TIME_OF_DAY.sub(" ", (text or "").lower())):
        kazakh = language == "kk" or not KAZAKH_LETTERS.isdisjoint(raw)
        word = raw.translate(FOLD)
        if word.isdigit():
            number = word.lstrip("0") or "0"
            numbers.append(number)
            after_number = True
            continue
        if after_number and word.startswith(AMOUNT_UNITS):
            numbers.pop()
        after_number = False
        root = kazakh_stem(word) if kazakh else None
        street = street_of(word)
        if street is not None:
            streets.add(street)
        found = topics_of(word) or (topics_of(root) if root else set())
        topics |= found
        if len(word) < 2 or word in STOP:
            continue
        stem = _stem(word, root)
        if stem in STOP_STEMS:
            continue
        stems.add(stem)
        if not found:
            places.add(stem)
    if "cold" in topics:  # a cold flat is heating; cold water is water
        topics.discard("cold")
        if not topics & {"water", "hot_water"}:
            topics.add("heating")
    skeleton_of = {s: s.translate(SKELETON_VOWELS) for s in stems}
    return Fingerprint(frozenset(stems), frozenset(k for k in skeleton_of.values() if len(k) >= 2),
                       frozenset(numbers), frozenset(topics), frozenset(places), skeleton_of, frozenset(streets))


def _numbers_factor(a: Fingerprint, b: Fingerprint) -> float:
    if a.numbers and b.numbers:
        return 1.0 if a.numbers & b.numbers else NUMBERS_DISAGREE
    return NUMBERS_ONE_SIDED if (a.numbers or b.numbers) else 1.0


def _total(stems: frozenset, weight) -> float:
    return sum(weight(s) for s in stems)


def _overlap(a: frozenset, b: frozenset, a_skeletons: frozenset, weight, skeleton_of=None, total=_total) -> float:
    """A cosine over stems, each weighted by its rarity; a skeleton or typo match counts for part of a word."""
    if not a or not b:
        return 0.0
    matched = 0.0
    rest = set(b - a)
    for stem in a:
        w = weight(stem)
        if stem in b:
            matched += w
        elif (skeleton_of.get(stem) if skeleton_of else stem.translate(SKELETON_VOWELS)) in a_skeletons:
            matched += w * SKELETON_WEIGHT
        elif rest and len(stem) >= 4 and process.extractOne(
                stem, rest, scorer=Levenshtein.normalized_similarity, score_cutoff=TYPO_SIMILARITY) is not None:
            matched += w * TYPO_WEIGHT
    if not matched:
        return 0.0
    return min(1.0, matched / math.sqrt(total(a, weight) * total(b, weight)))


def score(a: Fingerprint, b: Fingerprint, weight=lambda stem: 1.0, total=_total) -> float:
    """How likely two questions are the same question, from 0 to 1: the same topic (in any of the
    three languages), the same place and details in the same words, and no disagreeing number.
    Two topics apart make two questions even where the place is the same."""
    words = _overlap(a.stems, b.stems, b.skeletons, weight, a.skeleton_of, total)
    if a.topics and b.topics:
        shared = len(a.topics & b.topics)
        topic = shared / math.sqrt(len(a.topics) * len(b.topics))
        places = _overlap(a.places, b.places, b.skeletons, weight, a.skeleton_of, total) if a.places and b.places \
            else PLACES_UNKNOWN
        alone = TOPIC_WITH_NUMBER if a.numbers & b.numbers or a.streets & b.streets else TOPIC_ALONE
        value = max(words, topic * (alone + (1 - alone) * places))
        if not shared:
            value *= TOPICS_DISAGREE
    else:
        value = words
    if a.streets and b.streets:
        if not a.streets & b.streets:
            value *= STREETS_DISAGREE
        elif a.streets - b.streets and b.streets - a.streets:  # "Тұран–Сығанақ" and "Тұран–Қабанбай": two crossings
            value *= STREETS_PARTLY
    return round(min(1.0, value) * _numbers_factor(a, b), 4)


@dataclass
class Index:
    """The fingerprints of one broadcast's open questions, an inverted index by stem and skeleton,
    and each question's group of likely duplicates (in arrival order: the group of its most similar
    earlier question, or a group of its own)."""

    prints: dict = field(default_factory=dict)       # id -> Fingerprint
    versions: dict = field(default_factory=dict)     # id -> the question version last applied (removed ones too)
    languages: dict = field(default_factory=dict)    # id -> language
    groups: dict = field(default_factory=dict)       # id -> id of its group's first question
    postings: dict = field(default_factory=dict)     # key -> {id: None}, an ordered set (oldest first)
    seen_until: object = None                        # the newest updated_at read
    newest: int = 0                                  # the highest id indexed
    changes: int = 0                                 # questions indexed or dropped so far
    nearest: tuple = ()                              # (id, changes, its likenesses) of the newest question
    pruned_at: float = float("-inf")                 # when `window` last dropped what fell out of it
    window: dict = field(default_factory=dict)       # id -> (version, updated_at) read within LATE_COMMIT of it
    window_checked: float = float("-inf")            # when the late-commit window was last counted (monotonic)
    rules: tuple = ((), [])                          # (the categories' keywords, their fingerprints)

    def _keys(self, fp: Fingerprint):
        return [*fp.stems, *("~" + k for k in fp.skeletons), *("#" + t for t in fp.topics)]

    def apply(self, qid: int, version: int, is_open: bool, language: str, text: str) -> None:
        """Bring one question up to `version`: (re)index it while it is open, drop it once it is not.
        An older version than the one applied is ignored (two readers may overlap)."""
        if version <= self.versions.get(qid, -1):
            return
        self.versions[qid] = version
        self._remove(qid)
        if not is_open:
            return
        fp = fingerprint(text, language)
        self.prints[qid], self.languages[qid] = fp, language
        self.newest = max(self.newest, qid)
        self.changes += 1
        for key in self._keys(fp):
            self.postings.setdefault(key, {})[qid] = None
        found = self.similar(fp, exclude=qid, limit=CANDIDATES, before=qid, threshold=min(THRESHOLD, SUGGEST_THRESHOLD))
        best = found[0][0] if found and found[0][1] >= THRESHOLD else None
        self.groups[qid] = self.groups.get(best, best) if best is not None else qid
        # the newest question's likenesses, as the desk asks for them right after it arrives
        self.nearest = (qid, self.changes, found) if qid == self.newest else ()

    def suggestions(self, qid: int, fp: Fingerprint, limit: int, threshold: float) -> list[tuple[int, float]]:
        """`similar` for a question of the index: what was found when the newest question was indexed,
        if nothing changed since, else scored now."""
        if self.nearest and self.nearest[:2] == (qid, self.changes) and limit <= CANDIDATES:
            return [pair for pair in self.nearest[2] if pair[1] >= threshold][:limit]
        return self.similar(fp, exclude=qid, limit=limit, threshold=threshold)

    def _remove(self, qid: int) -> None:
        self.changes += 1
        fp = self.prints.pop(qid, None)
        self.languages.pop(qid, None)
        self.groups.pop(qid, None)
        if fp is not None:
            for key in self._keys(fp):
                ids = self.postings.get(key)
                if ids is not None:
                    ids.pop(qid, None)
                    if not ids:
                        del self.postings[key]

    def weight(self, stem: str) -> float:
        """Rarer words say more: inverse document frequency within the broadcast."""
        df = len(self.postings.get(stem, ()))
        return math.log(1 + (len(self.prints) + 1) / (df + 1))

    def similar(self, fp: Fingerprint, *, exclude: int | None = None, limit: int = 5, before: int | None = None,
                language: str | None = None, threshold: float | None = None) -> list[tuple[int, float]]:
        """The questions most like `fp`, best first, as (id, score) at or above `threshold` (THRESHOLD)."""
        threshold = THRESHOLD if threshold is None else threshold
        votes: dict[int, float] = {}
        crowded = max(50, len(self.prints) // 3)
        for key in self._keys(fp):
            ids = self.postings.get(key, {})
            if len(ids) > crowded:
                continue  # a word a third of the broadcast uses picks no candidate
            w = self.weight(key) * (SKELETON_WEIGHT if key[0] in "~#" else 1.0)
            # a common key votes only for its most recent questions: duplicates come close together
            for qid in itertools.islice(reversed(ids), RECENT_PER_KEY):
                votes[qid] = votes.get(qid, 0.0) + w
        votes.pop(exclude, None)
        if before is not None and before >= self.newest:  # nothing later is indexed: no filter to run
            votes.pop(before, None)
            before = None
        if before is not None or language is not None:
            votes = {qid: v for qid, v in votes.items()
                     if (before is None or qid < before) and (language is None or self.languages[qid] == language)}
        memo: dict[str, float] = {}

        def weight(stem: str) -> float:  # each stem's weight once per query
            value = memo.get(stem)
            if value is None:
                value = memo[stem] = self.weight(stem)
            return value
        totals: dict[int, float] = {}

        def total(stems: frozenset, weight) -> float:  # and each set's sum of weights
            value = totals.get(id(stems))
            if value is None:
                value = totals[id(stems)] = _total(stems, weight)
            return value
        candidates = heapq.nlargest(CANDIDATES, votes, key=votes.get)
        scored = [(qid, score(fp, self.prints[qid], weight, total)) for qid in candidates]
        scored = [pair for pair in scored if pair[1] >= threshold]
        scored.sort(key=lambda pair: (-pair[1], pair[0]))
        return scored[:limit]


def similarity_turn():
    """One index update or scoring at a time in this process (they run in the pool's thread)."""
    return runtime().similarity_turn


def _read_changes(index: Index, broadcast) -> tuple[list, dict]:
    """The broadcast's questions changed since the index last read (ids, versions, statuses) and the
    texts of the open ones. Rows stamped before the newest one read may commit late: about once a
    second the last few seconds are counted again (a count and a sum of versions), and read again
    only if the count differs from what the index read."""
    columns = (Question.id, Question.version, Question.status, Question.updated_at, Question.text, Question.language)
    mine = Question.broadcast_id == broadcast.id
    if index.seen_until is None:
        rows = db.session.execute(select(*columns[:4]).where(mine)).all()
    else:
        rows = db.session.execute(select(*columns).where(mine, Question.updated_at > index.seen_until)).all()
        if time.monotonic() - index.window_checked >= WINDOW_CHECK_SECONDS:
            index.window_checked = time.monotonic()
            low, high = index.seen_until - LATE_COMMIT, index.seen_until
            window = (mine, Question.updated_at >= low, Question.updated_at <= high)
            count, versions = db.session.execute(
                select(func.count(Question.id), func.coalesce(func.sum(Question.version), 0)).where(*window)).one()
            known = [v for v, stamp in index.window.values() if low <= stamp <= high]
            if count != len(known) or versions != sum(known):
                rows += db.session.execute(select(*columns[:4]).where(*window)).all()
    changed = [r for r in rows if r.version > index.versions.get(r.id, -1)]
    texts = {r.id: (r.text, r.language) for r in changed if len(r) > 4 and S(r.status) in OPEN}
    wanted = [r.id for r in changed if S(r.status) in OPEN and r.id not in texts]
    for start in range(0, len(wanted), 500):
        texts.update((qid, (text, language)) for qid, text, language in db.session.execute(
            select(Question.id, Question.text, Question.language).where(Question.id.in_(wanted[start:start + 500]))))
    return rows, texts


def _apply_changes(index: Index, rows: list, texts: dict) -> Index:
    """Apply what `_read_changes` read: pure computation, no database (it runs in the pool's thread)."""
    for r in sorted(rows, key=lambda r: r.id):
        if r.version > index.versions.get(r.id, -1):
            text, language = texts.get(r.id, ("", ""))
            index.apply(r.id, r.version, r.id in texts, language, text)
    newest = max((r.updated_at for r in rows), default=None)
    if newest is not None and (index.seen_until is None or newest > index.seen_until):
        index.seen_until = newest
    if index.seen_until is not None:
        low = index.seen_until - LATE_COMMIT
        for r in rows:
            if r.updated_at >= low and r.version >= index.window.get(r.id, (-1,))[0]:
                index.window[r.id] = (r.version, r.updated_at)
        if time.monotonic() - index.pruned_at >= WINDOW_CHECK_SECONDS:
            index.pruned_at = time.monotonic()
            index.window = {qid: seen for qid, seen in index.window.items() if seen[1] >= low}
    return index


def _with_index(broadcast, work):
    """Bring this process's index of the broadcast up to date and return `work(index)`. The reading
    is done here; a large catch-up (a first build of 10,000 questions takes seconds) is fingerprinted
    and scored in a real thread under eventlet (`durability.run_blocking`), so it does not hold the
    event loop; a few new questions (a few milliseconds) are done here, where the hand-over to a
    thread would cost more than the work."""
    indexes = runtime().similarity
    index = indexes.get(broadcast.id)
    if index is None:
        index = indexes[broadcast.id] = Index()
    with similarity_turn():
        rows, texts = _read_changes(index, broadcast)
        if len(texts) > IN_POOL_ABOVE:
            return run_blocking(lambda: work(_apply_changes(index, rows, texts)))
        return work(_apply_changes(index, rows, texts))


def broadcast_index(broadcast) -> Index:
    """This process's index of the broadcast's open questions, brought up to date with what changed
    since it was last read (a new process builds it on first use)."""
    return _with_index(broadcast, lambda index: index)


def similar_questions(broadcast, question: Question, limit: int = 5) -> list[tuple[int, float]]:
    """The questions of the broadcast most like this one (any language), best first."""
    qid, text, language = question.id, question.text, question.language
    return _with_index(broadcast, lambda index: index.suggestions(
        qid, index.prints.get(qid) or fingerprint(text, language), limit, SUGGEST_THRESHOLD))


def desk_insights(broadcast, ids, categories: list[Category]) -> dict:
    """For these questions of the broadcast (None: all its open ones): the group of likely duplicates
    each belongs to (only groups of two or more), and the category its words suggest."""
    keywords = tuple((c.id, c.keywords) for c in categories)
    return _with_index(broadcast, lambda index: _insights(index, ids, keywords))


def _insights(index: Index, ids, keywords: tuple) -> dict:
    wanted = list(index.prints) if ids is None else [qid for qid in ids if qid in index.prints]
    sizes: dict[int, int] = {}
    for group in index.groups.values():
        sizes[group] = sizes.get(group, 0) + 1
    if index.rules[0] != keywords:
        index.rules = (keywords, _rules(keywords))
    rules = index.rules[1]
    suggestions = {}
    for qid in wanted:
        category = suggest_category(index.prints[qid], rules) if rules else None
        if category is not None:
            suggestions[qid] = category
    return {"groups": {qid: index.groups[qid] for qid in wanted if sizes.get(index.groups[qid], 0) > 1},
            "suggestions": suggestions}


# --- categories suggested by keywords ---

def category_rules(categories: list[Category]) -> list[tuple[int, list[Fingerprint]]]:
    """Each category's keywords (one word or phrase a line, any language) as fingerprints."""
    return _rules(tuple((c.id, c.keywords) for c in categories))


def _rules(keywords: tuple) -> list[tuple[int, list[Fingerprint]]]:
    rules = []
    for category_id, lines in keywords:
        phrases = [fingerprint(line) for line in (lines or "").splitlines() if line.strip()]
        phrases = [p for p in phrases if p.stems]
        if phrases:
            rules.append((category_id, phrases))
    return rules


def suggest_category(fp: Fingerprint, rules) -> int | None:
    """The category whose keywords the question uses most, or None. A keyword counts when each of
    its words is in the question, or when the question names the keyword's topic in other words
    ("батареи холодные" for the keyword "жылу")."""
    best, best_hits = None, 0
    for category_id, phrases in rules:
        hits = sum(len(p.stems) for p in phrases
                   if all(s in fp.stems for s in p.stems) or (p.topics and p.topics <= fp.topics))
        if hits > best_hits:
            best, best_hits = category_id, hits
    return best
