"""Found by the review of topic tags: two admins editing one topic."""
from __future__ import annotations

import re

from companion.extensions import db
from companion.models import Topic
from companion.services import accounts
from companion.testing.liveserver import PASSWORD


def _topic_id(app) -> int:
    with app.app_context():
        topic = Topic(name_kk="Жолдар", name_ru="Дороги", name_en="Roads", keywords="жол\nдорога", active=True,
                      version=1)
        db.session.add(topic)
        accounts.create_user("admin2", "admin", PASSWORD)
        db.session.commit()
        return topic.id


def _form(client, topic_id: int) -> dict:
    """The topic's form as the page shows it: every field, the hidden ones included."""
    page = client.get("/admin/topics").get_data(as_text=True)
    form = re.search(rf'<form method="post" action="/admin/topics/{topic_id}".*?</form>', page, re.S).group(0)
    values = dict(re.findall(r'<input[^>]*?name="(\w+)"[^>]*?value="([^"]*)"', form))
    values.pop("active", None)
    values["keywords"] = re.search(r"<textarea[^>]*>(.*?)</textarea>", form, re.S).group(1)
    values["active"] = "1"
    return values


def test_a_topic_saved_meanwhile_by_another_admin_is_not_overwritten_unseen(app, staff_client):
    topic_id = _topic_id(app)
    first, second = staff_client("admin"), staff_client("admin2")
    mine, theirs = _form(first, topic_id), _form(second, topic_id)
    theirs["keywords"] += "\nколея"
    assert second.post(f"/admin/topics/{topic_id}", data=theirs).status_code == 302
    mine["name_en"] = "Roads and pavements"
    response = first.post(f"/admin/topics/{topic_id}", data=mine)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "Roads and pavements" in page and "колея" in page  # what was typed, and what is saved now
    with app.app_context():
        topic = db.session.get(Topic, topic_id)
        assert (topic.name_en, topic.keywords, topic.version) == ("Roads", "жол\nдорога\nколея", 2)
    # saved again from the page it came back on, knowing: the change goes through
    again = _form_from(page, topic_id)
    assert first.post(f"/admin/topics/{topic_id}", data=again).status_code == 302
    with app.app_context():
        topic = db.session.get(Topic, topic_id)
        assert (topic.name_en, topic.version) == ("Roads and pavements", 3)
    # a form without its version is refused, not taken for the current one
    bare = {k: v for k, v in again.items() if k != "version"}
    assert first.post(f"/admin/topics/{topic_id}", data=bare).status_code == 400


def _form_from(page: str, topic_id: int) -> dict:
    form = re.search(rf'<form method="post" action="/admin/topics/{topic_id}".*?</form>', page, re.S).group(0)
    values = dict(re.findall(r'<input[^>]*?name="(\w+)"[^>]*?value="([^"]*)"', form))
    values["keywords"] = re.search(r"<textarea[^>]*>(.*?)</textarea>", form, re.S).group(1)
    values["active"] = "1"
    return values
