"""The WhatsApp webhook's payloads read by our own code (companion/channels/whatsapp.py, plain aiohttp:
docs/channels.md says why not pywa) and by pywa 4.5.0, the maintained client the issue names, on the
same generated payloads: text, image with a caption, location, a reply button and a template's
quick-reply button, with any text, names and ids. Where they disagree, ours is wrong. No network: pywa
parses the documented webhook shape offline."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pywa import WhatsApp, types

from companion.channels.whatsapp import message_key, messages_of

PHONE_ID = "1234567890"
CLIENT = WhatsApp(phone_id=PHONE_ID, token="stand-in", server=None, verify_token=None)

words = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300)
texts = st.one_of(words, words.map(lambda s: f" {s}\n"), st.sampled_from(["Қабанбай батыр 21 — лифт 🛗", "<b>&amp;</b>", "0"]))
wa_ids = st.from_regex(r"[1-9][0-9]{7,14}", fullmatch=True)
wamids = st.from_regex(r"wamid\.[A-Za-z0-9=_-]{8,40}", fullmatch=True)
coordinates = st.tuples(st.floats(-90, 90, allow_nan=False), st.floats(-180, 180, allow_nan=False))


@st.composite
def messages(draw):
    kind = draw(st.sampled_from(["text", "image", "location", "interactive", "button"]))
    message = {"from": draw(wa_ids), "id": draw(wamids), "timestamp": "1764672000", "type": kind}
    if kind == "text":
        message["text"] = {"body": draw(texts)}
    elif kind == "image":
        message["image"] = {"id": draw(st.from_regex(r"[0-9]{6,20}", fullmatch=True)), "mime_type": "image/jpeg",
                            "sha256": "c2hh", **({"caption": draw(texts)} if draw(st.booleans()) else {})}
    elif kind == "location":
        lat, long = draw(coordinates)
        message["location"] = {"latitude": lat, "longitude": long}
    elif kind == "interactive":
        message["interactive"] = {"type": "button_reply",
                                  "button_reply": {"id": draw(st.sampled_from(["lang:kk", "lang:ru", "consent:yes"])),
                                                   "title": draw(texts)}}
    else:
        message["button"] = {"payload": draw(st.sampled_from(["lang:en", "consent:no"])), "text": draw(texts)}
    return message


def update(message: dict, name: str) -> dict:
    """One webhook POST as Meta sends it (the contact carries the business-scoped `user_id` pywa reads)."""
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "77170000000", "phone_number_id": PHONE_ID},
        "contacts": [{"profile": {"name": name}, "wa_id": message["from"], "user_id": "KZ.1"}],
        "messages": [message]}}]}]}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages(), texts)
def test_our_reading_of_a_webhook_agrees_with_pywa(message, name):
    payload = update(message, name)
    (ours,) = messages_of(payload, PHONE_ID)
    if message["type"] in ("interactive", "button"):
        theirs = types.CallbackButton.from_update(client=CLIENT, update=payload)
        assert ours.button == theirs.data
    else:
        theirs = types.Message.from_update(client=CLIENT, update=payload)
        assert ours.update_id == ours.message_id == message_key(theirs.id)
        if message["type"] == "text":
            assert ours.text == theirs.text
        elif message["type"] == "image":
            assert (ours.photo, ours.text) == (theirs.image.id, theirs.caption or "")
        else:
            assert (ours.lat, ours.long) == (theirs.location.latitude, theirs.location.longitude)
    assert ours.update_id == message_key(theirs.id)
    assert (ours.chat, ours.name) == (theirs.from_user.wa_id, theirs.from_user.name)


def test_a_payload_pywa_reads_for_another_number_is_not_ours():
    message = {"from": "77011234567", "id": "wamid.HBgLNzcwMTEyMzQ1NjcVAgASGBQz", "timestamp": "1764672000",
               "type": "text", "text": {"body": "Когда дадут отопление?"}}
    payload = update(message, "Айгүл")
    assert types.Message.from_update(client=CLIENT, update=payload).text == "Когда дадут отопление?"
    assert messages_of(payload, "another-number") == []  # the same Meta app's other number: not this office's
