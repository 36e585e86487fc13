"""Staff analytics (/analytics): the on-time share as 311 services count it, median and p90, who sees what,
the CSV exports read back, and cached figures served stale while they are recounted off the request path."""
from __future__ import annotations

import csv
import io
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from companion.extensions import db
from companion.models import Appeal, ReportCache, User, utcnow
from companion.runtime import runtime
from companion.services import analytics, deadlines, reports


def _user(name: str) -> User:
    return db.session.execute(select(User).where(User.username == name)).scalar_one()


def _appeal(department: int, *, days: int | None = None, on_time: bool | None = None, overdue: bool = False,
            open_: bool = False, statutory: bool = True, officer: int | None = None, category: int | None = None,
            received_days_ago: int = 3, district: str = "", repeat: bool = False) -> Appeal:
    today = deadlines.local_date()
    due = today - timedelta(days=2) if overdue else today + timedelta(days=10)
    answered = days is not None
    appeal = Appeal(text="Private text of a resident", author_name="Resident Name", contact="+77010000000",
                    department_id=department, officer_id=officer, category_id=category, district=district,
                    status="answered" if answered else "in_progress", clock_running=statutory and not answered,
                    statutory=statutory, received_at=utcnow() - timedelta(days=received_days_ago), due_date=due,
                    original_due_date=due, forward_due_date=due, days_to_answer=days, answered_on_time=on_time,
                    answered_at=utcnow() if answered else None, repeat=repeat)
    db.session.add(appeal)
    return appeal


def _constructed_case() -> None:
    """Department 1: on time in 1, 2 and 10 days, late in 20, two open overdue, one open in time.
    Department 2: on time in 5 and 5 days, one open overdue. A question only, overdue: not counted."""
    officer = _user("officer").id
    for days in (1, 2, 10):
        _appeal(1, days=days, on_time=True, category=1)
    _appeal(1, days=20, on_time=False, category=1)
    _appeal(1, open_=True, overdue=True, officer=officer, category=2)
    _appeal(1, open_=True, overdue=True, officer=officer, category=2)
    _appeal(1, open_=True, category=2)
    _appeal(2, days=5, on_time=True, category=3)
    _appeal(2, days=5, on_time=True, category=3)
    _appeal(2, open_=True, overdue=True, category=3)
    _appeal(2, open_=True, overdue=True, statutory=False, category=3)  # a question only: no term, not counted
    db.session.commit()


def test_on_time_share_counts_open_overdue_appeals_against_it(app):
    with app.app_context():
        _constructed_case()
        payload = analytics.compute(everything=True)
    one, two, total = payload["departments"]["1"], payload["departments"]["2"], payload["totals"]
    # department 1: 3 on time / (4 answered + 2 open and overdue) = 0.5, not 3/4 as answered alone would say
    assert (one["on_time"], one["answered"], one["open_overdue"], one["share"]) == (3, 4, 2, 0.5)
    assert (two["on_time"], two["answered"], two["open_overdue"], two["share"]) == (2, 2, 1, 0.6667)
    assert (total["on_time"], total["answered"], total["open_overdue"], total["share"]) == (5, 6, 3, 0.5556)
    assert analytics.on_time_share(0, 0, 0) is None and analytics.on_time_share(0, 0, 4) == 0.0


def test_the_roadmap_counts_on_time_the_same_way(app):
    with app.app_context():
        _constructed_case()
        figures = reports.compute_roadmap()
    assert figures["answered_on_time"] == 5 and figures["open_overdue"] == 3 and figures["on_time_share"] == 0.5556


def test_the_roadmap_means_one_thing_by_answered_in_its_headline_and_its_bars(app):
    """An appeal answered on air whose written answer is still due is not answered yet, in the bars as in the
    headline and the on-time share (the bars once counted it by its status)."""
    with app.app_context():
        _constructed_case()
        owed = _appeal(1, category=1)
        owed.status, owed.follow_up, owed.answered_at = "answered_on_air", True, utcnow()
        db.session.commit()
        figures = reports.compute_roadmap()
    assert sum(row["answered"] for row in figures["by_category"].values()) == figures["answered"] == 6
    assert figures["by_category"]["1"] == {"total": 5, "answered": 4}


def test_median_and_90th_percentile_of_days_to_answer(app):
    assert analytics.percentile({d: 1 for d in range(1, 11)}, 0.9) == 9  # nearest rank: ceil(0.9 * 10) = 9th
    assert analytics.percentile({1: 1, 2: 1, 10: 1, 20: 1}, 0.9) == 20  # ceil(3.6) = 4th
    assert analytics.percentile({3: 100}, 0.9) == 3 and analytics.percentile({}, 0.9) is None
    assert analytics.percentile({1: 9, 50: 1}, 0.9) == 1 and analytics.percentile({1: 8, 50: 2}, 0.9) == 50
    with app.app_context():
        _constructed_case()
        payload = analytics.compute(everything=True)
    one, two, total = payload["departments"]["1"], payload["departments"]["2"], payload["totals"]
    assert (one["median"], one["p90"]) == (6.0, 20)  # 1, 2, 10, 20
    assert (two["median"], two["p90"]) == (5.0, 5)
    assert (total["median"], total["p90"]) == (5.0, 20)  # 1, 2, 5, 5, 10, 20


def test_backlog_by_department_and_officer_and_weeks(app):
    with app.app_context():
        _constructed_case()
        _appeal(3, category=4, received_days_ago=7 * 30)  # long ago: outside the 12 weeks
        db.session.commit()
        payload = analytics.compute(everything=True)
        officer = str(_user("officer").id)
        rows = analytics.tables(payload, "en")
    assert payload["officers"] == {officer: {"department": "1", "overdue": 2}, "": {"department": "2", "overdue": 1}}
    assert sum(payload["weekly"]) == 10 and len(payload["weeks"]) == analytics.WEEKS
    assert [r[1] for r in rows["backlog_department"]["rows"]] == [2, 1]
    assert rows["on_time"]["rows"][0][:2] == ["All departments", 0.5556]


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_repeat_topics_are_categories_asked_in_both_of_the_last_two_full_weeks(app):
    with app.app_context():
        today = deadlines.local_date()
        since_monday = today.weekday()
        for ago, category in ((since_monday + 1, 1), (since_monday + 2, 1), (since_monday + 8, 1),
                              (since_monday + 1, 2), (since_monday + 15, 2), (since_monday + 8, 5)):
            _appeal(1, category=category, received_days_ago=ago)
        db.session.commit()
        rows = analytics.tables(analytics.compute(everything=True), "en")["repeat"]["rows"]
    assert len(rows) == 1 and rows[0][1:] == [1, 2, 1, 2]  # category 1: 1 the week before last, 2 last week


def test_officer_sees_only_their_department_and_other_roles_are_refused(app, staff_client):
    with app.app_context():
        _constructed_case()
    officer = staff_client("officer").get("/analytics")
    assert officer.status_code == 200
    page = officer.get_data(as_text=True)
    assert "The appeals of your department." in page and "50%" in page and "Private text" not in page
    with app.app_context():
        payload = analytics.analytics_for(_user("officer"))
        assert set(payload["departments"]) == {"1"} and payload["totals"]["open_overdue"] == 2
        assert db.session.get(ReportCache, "analytics:department:1") is not None
    head = staff_client("head").get("/analytics")
    assert head.status_code == 200 and "All departments." in head.get_data(as_text=True)
    for name in ("mod", "speaker"):
        client = staff_client(name)
        assert client.get("/analytics").status_code == 403
        assert client.get("/analytics/on_time.csv").status_code == 403
    anonymous = app.test_client().get("/analytics/on_time.csv")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert app.test_client().get("/analytics").status_code == 302


def test_an_officer_without_a_department_sees_nothing(app, staff_client):
    with app.app_context():
        _constructed_case()
        officer = _user("officer")
        officer.department_id = None
        db.session.commit()
        payload = analytics.analytics_for(officer)
    assert payload["departments"] == {} and sum(payload["weekly"]) == 0


def _read_csv(response, delimiter=",") -> list[list[str]]:
    assert response.status_code == 200 and response.content_type.startswith("text/csv")
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=delimiter))


def test_csv_exports_read_back(app, staff_client):
    with app.app_context():
        _constructed_case()
    client = staff_client("admin")
    rows = _read_csv(client.get("/analytics/on_time.csv?sep=comma"))
    assert rows[0] == ["Department", "On time, share", "Answered on time", "Answered", "Open and overdue"]
    assert rows[1] == ["All departments", "0.5556", "5", "6", "3"]
    assert len(rows) == 1 + 1 + 2
    days = _read_csv(client.get("/analytics/days.csv?sep=semicolon"), ";")
    assert days[1] == ["All departments", "5,0", "20", "6"]  # a decimal comma goes with ";"
    weekly = _read_csv(client.get("/analytics/weekly.csv?sep=comma"))
    assert len(weekly) == 1 + analytics.WEEKS and sum(int(r[1]) for r in weekly[1:]) == 10
    category = _read_csv(client.get("/analytics/category.csv?sep=comma"))
    assert len(category[0]) == 4 + analytics.WEEKS and sum(int(r[1]) for r in category[1:]) == 10
    officers = _read_csv(client.get("/analytics/backlog_officer.csv?sep=comma"))
    assert sorted(r[2] for r in officers[1:]) == ["1", "2"]
    assert client.get("/analytics/nope.csv").status_code == 404
    assert client.get("/analytics/../appeals.csv").status_code in (404, 308)
    assert client.get("/analytics/on_time.csv?sep=tab").status_code == 400
    officer_rows = _read_csv(staff_client("officer").get("/analytics/on_time.csv?sep=comma"))
    # an officer's figures are their department's, under its name (no "All departments" row)
    assert officer_rows[1] == ["Passenger transport and roads department", "0.5", "3", "4", "2"] and len(officer_rows) == 2


def test_a_text_that_looks_like_a_formula_is_exported_inert(app, staff_client):
    with app.app_context():
        _appeal(1, district="=HYPERLINK(1)", category=1)
        db.session.commit()
    rows = _read_csv(staff_client("admin").get("/analytics/district.csv?sep=comma"))
    assert all(not r[0].startswith("=") for r in rows[1:])  # counted as other districts, never as typed


def _make_stale(key: str) -> None:
    db.session.execute(update(ReportCache).where(ReportCache.key == key)
                       .values(computed_at=utcnow() - timedelta(hours=1)))
    db.session.commit()


def _join_recount(app) -> None:
    task = runtime(app).last_recount
    assert task is not None, "no recount was started"
    task.join(10)
    assert not task.is_alive()


@pytest.mark.parametrize("kind", ["analytics", "roadmap"])
def test_stale_figures_are_served_at_once_and_recounted_off_the_request_path(app, staff_client, monkeypatch, kind):
    app.config.update(ANALYTICS_CACHE_SECONDS=60, ROADMAP_CACHE_SECONDS=60)
    client = staff_client("admin")
    url, key = ("/analytics", "analytics:all") if kind == "analytics" else ("/roadmap", "roadmap")
    assert client.get(url).status_code == 200  # nothing stored yet: counted in this request, and stored
    with app.app_context():
        _constructed_case()
        _make_stale(key)
    release, calls = threading.Event(), []
    module, name = (analytics, "compute") if kind == "analytics" else (reports, "compute_roadmap")
    real = getattr(module, name)

    def slow_count(*args, **kwargs):
        calls.append(threading.current_thread().name)
        assert release.wait(10), "the test never let the recount finish"
        return real(*args, **kwargs)
    monkeypatch.setattr(module, name, slow_count)
    started = time.perf_counter()
    stale = client.get(url)
    waited = time.perf_counter() - started
    assert stale.status_code == 200 and waited < 2  # the recount is blocked until released: the request did not wait
    assert calls and calls[0] != threading.current_thread().name
    again = client.get(url)  # still stale: no second recount is claimed while the first runs
    assert again.status_code == 200 and len(calls) == 1
    with app.app_context():
        payload = db.session.get(ReportCache, key).payload
        assert (payload["totals"]["answered"] if kind == "analytics" else payload["answered"]) == 0  # the old figures
    release.set()
    _join_recount(app)
    with app.app_context():
        payload = db.session.get(ReportCache, key).payload
        assert (payload["totals"]["answered"] if kind == "analytics" else payload["answered"]) == 6
    assert len(calls) == 1


def test_a_failed_recount_keeps_the_old_figures(app, staff_client, monkeypatch):
    app.config.update(ANALYTICS_CACHE_SECONDS=60)
    client = staff_client("admin")
    client.get("/analytics")
    with app.app_context():
        _make_stale("analytics:all")

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")
    monkeypatch.setattr(analytics, "compute", broken)
    assert client.get("/analytics").status_code == 200
    _join_recount(app)
    assert client.get("/analytics").status_code == 200  # claimed a TTL ahead: served, no new recount
    with app.app_context():
        assert db.session.get(ReportCache, "analytics:all").payload["totals"]["answered"] == 0


def test_the_pages_are_translated(app, staff_client):
    client = staff_client("head")
    for code, words in (("ru", "Аналитика"), ("kk", "Талдау")):
        client.get(f"/lang/{code}")
        assert words in client.get("/analytics").get_data(as_text=True)


def test_of_two_processes_that_find_the_figures_stale_one_recounts(app, tmp_path, monkeypatch):
    """Two apps on one database (two serving processes): both serve the stored figures, one claims the recount."""
    from companion import create_app

    from .conftest import test_config
    other = create_app(test_config(tmp_path / "other", DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"]))
    (tmp_path / "other").mkdir(exist_ok=True)
    for each in (app, other):
        each.config.update(ROADMAP_CACHE_SECONDS=60)
    assert app.test_client().get("/roadmap").status_code == 200
    with app.app_context():
        _make_stale("roadmap")
    release, calls = threading.Event(), []
    real = reports.compute_roadmap

    def slow_count():
        calls.append(1)
        release.wait(10)
        return real()
    monkeypatch.setattr(reports, "compute_roadmap", slow_count)
    assert other.test_client().get("/roadmap").status_code == 200
    assert app.test_client().get("/roadmap").status_code == 200
    assert len(calls) == 1 and (runtime(other).last_recount is None) != (runtime(app).last_recount is None)
    release.set()
    _join_recount(other if runtime(other).last_recount is not None else app)
    with other.app_context():
        db.session.remove()
        db.engine.dispose()
