"""Fresh-eyes review: the Kazakh and Russian words for withdrawal and registration."""
from __future__ import annotations

from pathlib import Path

import pytest
from babel.support import Translations

CATALOGS = Path(__file__).resolve().parent.parent / "translations"

# APPK art. 64 (kk): "Өтінішті қабылдау, тіркеу, қайтару және кері қайтарып алу". The applicant's
# withdrawal (отзыв) is "кері қайтарып алу"; "қайтару" alone is the body's return (возврат).
WITHDRAWAL = ["Withdraw my appeal", "Withdraw the appeal", "Withdrawn by the applicant", "Yes, withdraw my appeal",
              "withdrawn by the applicant", "This appeal can no longer be withdrawn: it is %(status)s.",
              "Record a withdrawal", "Say how the applicant withdrew the appeal.", "The applicant withdrew the appeal"]


def gettext(locale: str, msgid: str) -> str:
    return Translations.load(str(CATALOGS), [locale]).gettext(msgid)


@pytest.mark.parametrize("msgid", WITHDRAWAL)
def test_kazakh_withdrawal_is_taking_back_not_returning(msgid):
    text = gettext("kk", msgid)
    assert text != msgid
    assert "қайтарып ал" in text or "қайтарылып алын" in text, text


def test_the_registration_step_agrees_with_obrashchenie():
    """"Registered" names the appeal's first step and labels its date: обращение is neuter."""
    assert gettext("ru", "Registered") == "Зарегистрировано"
    assert gettext("kk", "Registered") == "Тіркелді"


def test_kazakh_desk_hints_say_digit_and_merge():
    assert "цифр" in gettext("kk", "Choose the ground: click it or press its number.")
    assert "қабылданбай қалмайды" not in gettext("kk", "A duplicate is merged into the question it repeats, not rejected.")
