"""Exports for the people who open them: CSV with the separator Excel expects in the page's language,
a BOM and one charset, and XLSX with dates as dates and numbers as numbers."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime

from openpyxl import load_workbook

from companion.extensions import db
from companion.services import appeals

from .test_appeals_http import ask

ALMATY_LAT, ALMATY_LONG = 43.238949, 76.889709


def located(app, code: str) -> None:
    """Give the appeal a place (as Open311 sends it)."""
    with app.app_context():
        appeal = appeals.by_code(code)
        appeal.lat, appeal.long = ALMATY_LAT, ALMATY_LONG
        db.session.commit()


def read_csv(response, delimiter: str) -> list[list[str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")  # Excel reads UTF-8 (Cyrillic) only after a BOM
    return list(csv.reader(io.StringIO(text[1:]), delimiter=delimiter))


def test_csv_uses_the_separator_of_excel_in_the_page_language(app, staff_client):
    code = ask(app, "Остановка; без навеса, на Абая", district="Алмалы")["tracking_code"]
    located(app, code)
    admin = staff_client("admin")
    topic = {"ru": "Общественный транспорт (предложена)", "kk": "Қоғамдық көлік (ұсынылды)",
             "en": "Public transport (suggested)"}  # "остановка": the demo topic's rule (services/topics.py)
    for lang, delimiter, decimal in (("ru", ";", ","), ("kk", ";", ","), ("en", ",", ".")):
        admin.get(f"/lang/{lang}")
        response = admin.get("/appeals/export.csv")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert response.headers["Content-Type"].count("charset") == 1
        rows = read_csv(response, delimiter)
        assert len(rows[0]) == len(rows[1]) == 21, rows[0]
        row = dict(zip(rows[0], rows[1]))
        assert rows[1][0] == code and rows[1][10] == "Остановка; без навеса, на Абая" and rows[1][9] == "Алмалы"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", rows[1][1]) and re.fullmatch(r"\d{4}-\d\d-\d\d", rows[1][3])
        assert rows[1][17:19] == [str(ALMATY_LAT).replace(".", decimal), str(ALMATY_LONG).replace(".", decimal)], row
        assert rows[0][7] in ("Channel", "Канал", "Арна") and rows[1][19] == ""  # no sending system: the website
        assert rows[1][20] == topic[lang]


def test_csv_separator_is_a_choice_and_a_wrong_one_is_a_400(app, staff_client):
    code = ask(app)["tracking_code"]
    located(app, code)
    admin = staff_client("admin")
    admin.get("/lang/ru")
    rows = read_csv(admin.get("/appeals/export.csv?sep=comma"), ",")
    assert rows[1][0] == code and rows[1][17] == str(ALMATY_LAT)
    admin.get("/lang/en")
    rows = read_csv(admin.get("/appeals/export.csv?sep=semicolon"), ";")
    assert rows[0][0] == "Number" and rows[1][0] == code and rows[1][17] == str(ALMATY_LAT).replace(".", ",")
    refused = admin.get("/appeals/export.csv?sep=tab")
    assert refused.status_code == 400 and "sep" in refused.get_data(as_text=True)


def test_the_list_page_offers_both_separators_its_language_first(app, staff_client):
    admin = staff_client("admin")
    for lang, first, second in (("ru", "semicolon", "comma"), ("kk", "semicolon", "comma"), ("en", "comma", "semicolon")):
        admin.get(f"/lang/{lang}")
        html = admin.get("/appeals?kind=appeal").get_data(as_text=True)
        links = re.findall(r'href="/appeals/export\.csv\?([^"]+)"', html)
        assert [re.search(r"sep=(\w+)", link).group(1) for link in links] == [first, second]
        assert all("kind=appeal" in link for link in links)  # the filter goes along
        assert all(f"lang={lang}" in link for link in links)  # and the page's language (a ?lang= page's too)
    admin.get("/lang/kk")
    html = admin.get("/appeals?lang=en").get_data(as_text=True)
    assert re.findall(r'href="/appeals/export\.xlsx\?([^"]+)"', html) and all(
        "lang=en" in link for link in re.findall(r'href="/appeals/export\.(?:csv|xlsx)\?([^"]+)"', html))


def test_xlsx_has_dates_as_dates_and_numbers_as_numbers(app, staff_client):
    code = ask(app, "=1+2 Абая")["tracking_code"]
    located(app, code)
    question = ask(app, "Без имени", author_name="", contact="", consent=False)["tracking_code"]
    admin = staff_client("admin")
    admin.get("/lang/ru")
    xlsx = admin.get("/appeals/export.xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    assert [c.value for c in next(sheet.iter_rows(max_row=1))][:2] == ["Номер", "Зарегистрировано"]
    appeal = rows[code]
    received, due = appeal[1], appeal[3]
    assert received.is_date and isinstance(received.value, datetime) and "yy" in received.number_format
    assert "h" in received.number_format  # a moment: the date and the time
    assert due.is_date and due.value.date() >= received.value.date() and "h" not in due.number_format
    with app.app_context():
        stored = appeals.by_code(code)
        assert due.value.date() == stored.due_date
    assert (appeal[17].data_type, appeal[17].value) == ("n", ALMATY_LAT)
    assert (appeal[18].data_type, appeal[18].value) == ("n", ALMATY_LONG)
    assert (appeal[10].data_type, appeal[10].value) == ("s", "=1+2 Абая")  # text stays text
    assert rows[question][3].value is None and rows[question][17].value is None  # no due date, no place
    assert isinstance(rows[question][1].value, datetime) and rows[question][12].value is None
    assert date.today().year - received.value.year <= 1
