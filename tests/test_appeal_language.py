"""The language of the appeal: the page's language when the form sends it; detection weighs words, not letters."""
from __future__ import annotations

import pytest

from companion.services import intake

RUSSIAN_ABOUT_KAZAKH_PLACES = [
    "Когда отремонтируют дорогу на улице Қабанбай батыр в районе Есіл?",
    "Когда починят лифт в доме 12 по Сығанақ?",
    "Почему на Тұран нет освещения?",
    "Почему на улице Тәуелсіздік нет тротуаров?",
    "Когда в Нұра ауданы дадут горячую воду?",
    "Съезд с Қорғалжын шоссе разбит",
]
KAZAKH_SENTENCES = [
    "Сәлеметсіз бе! Аулада балалар алаңы қашан салынады?",
    "Біздің көшеде жарық неге жоқ?",
    "Қабанбай батыр көшесіндегі жолды қашан жөндейді?",
    "Есіл ауданындағы мектепке автобус қажет.",
    "Балабақшаға кезекке қалай тұруға болады?",
    "Тұран даңғылында бағдаршам істемейді.",
    "Жолды жасайсыздар ма?",  # no Kazakh letter at all: the question particle tells
    "Қашан?",
]


@pytest.mark.parametrize("text", RUSSIAN_ABOUT_KAZAKH_PLACES)
def test_a_russian_question_about_a_kazakh_place_name_is_russian(text):
    assert intake.detect_language(text) == "ru"


@pytest.mark.parametrize("text", KAZAKH_SENTENCES)
def test_a_kazakh_sentence_is_kazakh(text):
    assert intake.detect_language(text) == "kk"


@pytest.mark.parametrize("text, language", [
    ("When will the park on Abay street open?", "en"),
    ("Когда отремонтируют дорогу на улице Абая?", "ru"),
    ("?!", None), ("12", None),
])
def test_other_texts(text, language):
    assert intake.detect_language(text) == language


def _stored_language(app, question_id: int) -> str:
    from companion.extensions import db
    from companion.models import Appeal, Question
    with app.app_context():
        question = db.session.get(Question, question_id)
        return question.language if question.appeal.language == question.language else "differs"


def test_the_language_the_viewer_page_sends_is_the_appeals_language(app, viewer_socket):
    viewer = viewer_socket()
    ack = viewer.emit("submit_question", {"text": "Қабанбай батыр көшесіндегі жолды қашан жөндейді?",
                                          "client_id": "page-lang-1", "language": "ru"}, namespace="/", callback=True)
    assert ack["ok"]
    assert _stored_language(app, ack["question"]["id"]) == "ru"


def test_without_a_language_the_words_are_a_hint(app, viewer_socket):
    viewer = viewer_socket()
    ack = viewer.emit("submit_question", {"text": "Почему на Тұран нет освещения?", "client_id": "page-lang-2"},
                      namespace="/", callback=True)
    assert _stored_language(app, ack["question"]["id"]) == "ru"


def test_the_viewer_page_sends_its_language_with_each_question():
    from pathlib import Path
    script = (Path(__file__).resolve().parent.parent / "static" / "js" / "viewer.js").read_text()
    assert "language: data.locale" in script
