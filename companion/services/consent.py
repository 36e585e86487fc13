"""What a question or an appeal records of the consent to personal data: the text's version, when, and how
it was given (the consent's text, the opt-in to show a name and withdrawal live in services.privacy)."""
from __future__ import annotations

from ..models import Channel, utcnow

# Bump when the consent text (services.privacy) changes in substance: each appeal records the version agreed to.
CONSENT_VERSION = "2026-12-01"

# how the resident gave consent, by the channel the question came through
CONSENT_FORMS = {Channel.WEB.value: "web", Channel.PHONE.value: "oral", Channel.API.value: "api",
                 Channel.OPEN311.value: "api", Channel.TELEGRAM.value: "telegram",
                 Channel.WHATSAPP.value: "whatsapp"}


def consent_fields(consented: bool, personal: bool, channel: str) -> dict:
    """What a new question records of its consent: the text's version, when, and how it was given."""
    if not (consented and personal):
        return {"consent_version": "", "consent_at": None, "consent_form": ""}
    return {"consent_version": CONSENT_VERSION, "consent_at": utcnow(),
            "consent_form": CONSENT_FORMS.get(str(channel), "web")}
