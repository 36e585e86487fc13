"""The receiving office as the talon names it (APPK art. 64(2)): its name per language, and who accepted an appeal."""
from __future__ import annotations

from flask import current_app

from ..config import in_fallback_order
from ..models import Appeal



def _setting(prefix: str, locale: str) -> str:
    """The setting `prefix`_<LANG> in `locale`, else in the other languages (Kazakh, then Russian), else ""."""
    for lang in in_fallback_order(locale):
        value = (current_app.config.get(f"{prefix}_{lang.upper()}") or "").strip()
        if value:
            return value
    return ""


def office_name(locale: str) -> str:
    """The receiving office's name in `locale` (OFFICE_NAME_KK/RU/EN), else OFFICE_NAME."""
    own = (current_app.config.get(f"OFFICE_NAME_{locale.upper()}") or "").strip()
    return own or current_app.config["OFFICE_NAME"]


def accepted_by(appeal: Appeal, locale: str) -> dict | None:
    """Who accepted the appeal, as the talon prints it: the staff member who typed in a phone call (their
    full name and the position on their profile), else the office's responsible official from the
    settings in `locale`; None when neither is known."""
    person = appeal.accepted_by
    if person is not None:
        return {"name": person.display_name or person.username, "position": person.position or ""}
    name = _setting("ACCEPTING_OFFICIAL", locale)
    if not name:
        return None
    return {"name": name, "position": _setting("ACCEPTING_POSITION", locale)}
