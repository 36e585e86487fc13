"""Likely duplicates and suggested categories (services/similarity.py), measured on labelled sets of
realistic district questions in kk/ru/en (tests/data/): `duplicates.json` (343 questions, the set the
weights and the threshold were chosen on), `duplicates_holdout.json` (188 questions, written apart),
`duplicates_third.json` (234) and `duplicates_fourth.json` (237), each written on 2 Dec by an author who
saw neither the scorer nor the other sets. The holdout and the third set were looked at while the
lexicon was worked on; the fourth has only ever been measured (see docs/performance.md)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from companion.services import similarity as sim

DATA = Path(__file__).resolve().parent / "data"


def evaluate(name: str, same_language: bool) -> tuple[float, float]:
    """Each question, in arrival order, gets its best earlier match at or above the threshold (as the
    desk groups them). Precision: the share of those matches in the question's own cluster. Recall:
    the share of questions with an earlier duplicate whose match is one."""
    questions = json.loads((DATA / name).read_text())["questions"]
    index = sim.Index()
    for q in questions:
        index.apply(q["id"], 1, True, q["lang"], q["text"])
    cluster = {q["id"]: q["cluster"] for q in questions}
    made = correct = wanted = found = 0
    for q in questions:
        has_earlier = any(p["id"] < q["id"] and p["cluster"] == q["cluster"]
                          and (not same_language or p["lang"] == q["lang"]) for p in questions)
        best = index.similar(index.prints[q["id"]], exclude=q["id"], before=q["id"], limit=1,
                             language=q["lang"] if same_language else None)
        wanted += has_earlier
        if best:
            made += 1
            right = cluster[best[0][0]] == q["cluster"]
            correct += right
            found += right and has_earlier
    return correct / made, found / wanted


# Measured on 2026-12-02 (threshold 0.45), same language / any language, precision / recall: tuning set
# 0.86 / 0.71, 0.90 / 0.56; holdout 0.83 / 0.76, 0.88 / 0.65; third 0.76 / 0.60, 0.85 / 0.45; fourth
# 0.79 / 0.69, 0.87 / 0.50. The floors sit a little below, so a change that makes the suggestions worse
# fails here. (The desk issue's aim, 0.9 / 0.8 in one language, is not reached; see docs/performance.md.)
FLOORS = {("duplicates.json", True): (0.84, 0.69), ("duplicates.json", False): (0.88, 0.54),
          ("duplicates_holdout.json", True): (0.80, 0.74), ("duplicates_holdout.json", False): (0.86, 0.62),
          ("duplicates_third.json", True): (0.74, 0.57), ("duplicates_third.json", False): (0.83, 0.43),
          ("duplicates_fourth.json", True): (0.76, 0.66), ("duplicates_fourth.json", False): (0.84, 0.48)}


@pytest.mark.parametrize("name,same_language", list(FLOORS))
def test_duplicate_suggestions_on_the_labelled_sets(name, same_language):
    precision, recall = evaluate(name, same_language)
    print(f"{name} same_language={same_language}: precision {precision:.3f}, recall {recall:.3f}")
    floor_p, floor_r = FLOORS[(name, same_language)]
    assert precision >= floor_p and recall >= floor_r


def test_the_labelled_sets_are_big_and_mixed_enough():
    for name, least in (("duplicates.json", 300), ("duplicates_holdout.json", 150), ("duplicates_third.json", 200),
                        ("duplicates_fourth.json", 200)):
        questions = json.loads((DATA / name).read_text())["questions"]
        assert len(questions) >= least and {q["lang"] for q in questions} == {"kk", "ru", "en"}
        assert [q["id"] for q in questions] == list(range(1, len(questions) + 1))


@pytest.mark.parametrize("a,b", [
    ("Когда дадут отопление в доме Кенесары 40?", "ул. Кенесары, д. 40: нет атопления уже неделю!!"),
    ("Қабанбай батыр 21 үйде лифт істемейді", "Кабанбай батыр 21 уйде лифт истемейди"),  # look-alike letters
    ("Кенесары көшесі 40 үйде жылу жоқ", "дом 40 по Кенесары, батареи холодные"),  # kk and ru
    ("When will bus 12 run on Sundays?", "Bus 12 on Sunday: when will it run?"),  # other word order
])
def test_the_same_question_in_other_words_scores_as_a_duplicate(a, b):
    index = sim.Index()
    index.apply(1, 1, True, "ru", a)
    assert index.similar(sim.fingerprint(b), threshold=sim.THRESHOLD)[0][0] == 1


def test_cold_water_is_water_and_a_cold_flat_is_heating():
    assert "heating" not in sim.fingerprint("Кенесары 40 горячей воды нет, из крана идёт только холодная").topics
    assert "heating" not in sim.fingerprint("тариф на холодную воду опять повышают?").topics
    assert "heating" not in sim.fingerprint("Таңертеңнен бері суық су да, ыстық су да жоқ", "kk").topics
    assert "heating" in sim.fingerprint("В квартире холодно, дети мёрзнут").topics
    assert "heating" in sim.fingerprint("Үйде суық, балалар ауырып жатыр", "kk").topics


def test_a_lawn_is_not_gas():
    assert sim.fingerprint("все паркуются на газонах").topics == {"parking", "trees"}
    assert "gas" in sim.fingerprint("запах газа в подъезде").topics
    assert "gas" in sim.fingerprint("когда проведут газопровод").topics


@pytest.mark.parametrize("a,b", [
    ("Байқоңыр ауданында ыстық су жоқ", "В Байконурском районе нет горячей воды"),  # a name longer than 7 letters
    ("В Нуре новые ЖК построили", "Живём в районе Нура"),  # a district listed whole, in another case
    ("В Есильском районе отключат воду?", "Есиль ауданында су жоқ"),
    ("В Алматинском районе отключили воду", "Алматы ауданы, су жоқ"),
])
def test_a_street_or_district_in_another_form_is_the_same_place(a, b):
    assert sim.fingerprint(a).streets == sim.fingerprint(b).streets != frozenset()


@pytest.mark.parametrize("a,b", [
    ("Когда дадут отопление в доме Кенесары 40?", "Когда дадут отопление в доме Кенесары 42?"),  # another house
    ("Лифт на Сығанақ 15 не работает", "На Сығанақ 15 нет отопления"),  # another problem
    ("Автобус 12 ходит редко", "Автобус 21 ходит редко"),  # another route
])
def test_a_different_place_number_or_problem_is_not_a_duplicate(a, b):
    assert sim.score(sim.fingerprint(a), sim.fingerprint(b)) < sim.THRESHOLD


def test_empty_and_hostile_text_scores_nothing_and_does_not_fail():
    for text in ("", "???", "\u0000\ud800", "<script>alert(1)</script>", "а" * 10_000, "1 2 3"):
        fp = sim.fingerprint(text)
        assert 0 <= sim.score(fp, sim.fingerprint("Когда дадут отопление?")) <= 1


def test_an_edited_or_closed_question_is_indexed_again_and_an_older_version_is_ignored():
    index = sim.Index()
    index.apply(1, 1, True, "ru", "Когда починят лифт на Сығанақ 15?")
    index.apply(2, 1, True, "ru", "Сыганак 15 лифт стоит неделю")
    assert index.groups[2] == 1
    index.apply(1, 3, True, "ru", "Когда уберут снег в Нуре?")  # edited into another question
    index.apply(1, 2, True, "ru", "Когда починят лифт на Сығанақ 15?")  # an older read arrives late
    assert index.similar(sim.fingerprint("лифт Сығанақ 15 сломан")) == [(2, pytest.approx(1.0, abs=0.6))]
    index.apply(2, 2, False, "ru", "Сыганак 15 лифт стоит неделю")  # merged: out of the index
    assert 2 not in index.prints and all(2 not in ids for ids in index.postings.values())


def test_keywords_suggest_a_category_in_any_of_the_three_languages():
    class Category:
        def __init__(self, id, keywords):
            self.id, self.keywords = id, keywords
    rules = sim.category_rules([Category(1, "автобус\nжол\nbus"), Category(2, "жылу\nотопление\nheating\nлифт")])
    assert sim.suggest_category(sim.fingerprint("Батареи холодные, Кенесары 40"), rules) == 2  # the topic, other words
    assert sim.suggest_category(sim.fingerprint("Кенесары көшесі 40 үйде жылу әлі жоқ"), rules) == 2
    assert sim.suggest_category(sim.fingerprint("Автобус 21 не ходит после 22:00"), rules) == 1
    assert sim.suggest_category(sim.fingerprint("Спасибо за эфир!"), rules) is None


@pytest.mark.parametrize("word,stem", [
    ("ауласындағы", "аула"), ("шамдар", "шам"), ("істемейді", "исте"), ("көшесінде", "коше"),
    ("балабақшаға", "балабакша"), ("автобустың", "автобус"), ("аялдамада", "аялдама"), ("жылу", "жылу"),
])
def test_kazakh_endings_are_cut_to_the_root(word, stem):
    assert sim.kazakh_stem(word.translate(sim.FOLD)) == stem


def test_kazakh_cutting_leaves_three_letters_and_stops_on_garbage():
    assert sim.kazakh_stem("ыды") == "ыды" and sim.kazakh_stem("") == ""
    assert len(sim.kazakh_stem("лар" * 50)) >= 3


def test_an_inflected_kazakh_word_still_names_its_topic():
    assert "yard" in sim.fingerprint("Жұбанов 5 үйдің ауласында шам жоқ", "kk").topics
    assert "yard" not in sim.fingerprint("Жубанов 5 ауласында шам жок", "ru").topics  # no Kazakh letter, not kk


def test_a_time_of_day_or_an_amount_is_no_number():
    assert sim.fingerprint("21 автобус не ходит после 22:00").numbers == {"21"}
    assert sim.fingerprint("Кенесары 40: нет отопления уже 2 недели, платим 38 тысяч").numbers == {"40"}
    assert sim.fingerprint("Балабақшаға кезекте 3 жыл тұрмыз", "kk").numbers == set()
    assert sim.fingerprint("12 автобусты 40 минут күтеміз", "kk").numbers == {"12"}


def test_the_same_topic_and_number_in_other_words_is_a_duplicate_and_another_topic_is_not():
    a, b = sim.fingerprint("32 автобусты қайтарыңыздаршы", "kk"), sim.fingerprint("32 автобусты неге алып тастадыңыздар?", "kk")
    assert sim.score(a, b) >= sim.THRESHOLD
    lift, heat = sim.fingerprint("Өндіріс 7 блокта лифт істемейді", "kk"), sim.fingerprint("Өндіріс 7 блокта жылу жоқ", "kk")
    assert sim.score(lift, heat) < sim.THRESHOLD


def _ask(broadcast, text, n, language="ru"):
    from companion.services import intake
    question, _ = intake.submit_question(broadcast, {"text": text, "language": language, "client_id": f"sim-client-{n:04d}"})
    return question


def test_the_desk_index_follows_new_edited_and_late_committed_questions(app, monkeypatch):
    from sqlalchemy import update

    from companion.extensions import db
    from companion.models import Question
    from companion.services import intake
    with app.app_context():
        broadcast = intake.get_broadcast("demo")
        first = _ask(broadcast, "Когда починят лифт на Сығанақ 15?", 1)
        second = _ask(broadcast, "Сыганак 15 лифт стоит неделю", 2)
        assert [qid for qid, _ in sim.similar_questions(broadcast, second)] == [first.id]
        index = sim.broadcast_index(broadcast)
        # an edit stamped a second before the newest row read, committed only now: read all the same
        db.session.execute(update(Question).where(Question.id == first.id).values(
            text="Когда уберут снег в Нуре?", version=Question.version + 1,
            updated_at=index.seen_until - sim.timedelta(seconds=1)))
        db.session.commit()
        index.window_checked = float("-inf")  # the window is counted again about once a second
        assert sim.similar_questions(broadcast, second) == []
        third = _ask(broadcast, "Лифт на Сыганак 15 не работает", 3)
        assert [qid for qid, _ in sim.similar_questions(broadcast, third)] == [second.id]
        assert sim.similar_questions(broadcast, third) == index.similar(index.prints[third.id], exclude=third.id,
                                                                        limit=5, threshold=sim.SUGGEST_THRESHOLD)
        groups = sim.desk_insights(broadcast, None, [])["groups"]
        assert groups[third.id] == groups[second.id]


def test_a_large_catch_up_is_scored_in_the_pool_and_a_new_question_in_place(app, monkeypatch):
    from companion.runtime import runtime
    from companion.services import intake
    pooled = []
    monkeypatch.setattr(sim, "IN_POOL_ABOVE", 1)
    run = runtime(app).run_blocking

    def runner(function):  # the database's log syncs go through the pool too: count only the index's work
        if function.__qualname__.startswith("_with_index"):
            pooled.append(1)
        return run(function)
    monkeypatch.setattr(runtime(app), "run_blocking", runner)
    with app.app_context():
        broadcast = intake.get_broadcast("demo")
        _ask(broadcast, "Когда починят лифт на Сығанақ 15?", 1)
        second = _ask(broadcast, "Сыганак 15 лифт стоит неделю", 2)
        assert sim.similar_questions(broadcast, second) and pooled == [1]  # two to index: the pool
        third = _ask(broadcast, "Лифт на Сыганак 15 не работает", 3)
        assert sim.similar_questions(broadcast, third) and pooled == [1]  # one: here


@pytest.mark.parametrize("a,b", [
    ("На Туран возле пересечения с Сығанақ яма", "яма на пересечении Турана и Кабанбай батыра"),  # two crossings
    ("Сарайшық көшесінде жарық жоқ", "Кенесары көшесінде жарық жоқ"),  # two streets, the same problem
])
def test_two_streets_of_the_city_make_two_questions(a, b):
    index = sim.Index()
    index.apply(1, 1, True, "ru", a)
    assert not index.similar(sim.fingerprint(b), threshold=sim.THRESHOLD)


def test_the_same_street_and_topic_in_two_languages_meet():
    index = sim.Index()
    index.apply(1, 1, True, "ru", "На Сарайшық нет освещения")
    assert index.similar(sim.fingerprint("Сарайшық көшесінде шамдар жанбайды", "kk"), threshold=sim.THRESHOLD)
