"""What the notices to an applicant say, in the appeal's language: the e-mail of a step, a chat's notice, the
reply to a new appeal, and the links they carry. Below the appeals and the outbox, which both use it."""
from __future__ import annotations

from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..links import absolute_url, public_url
from ..models import Appeal
from .office import office_name

TEXT_LIMIT = 4000  # Telegram takes 4,096 characters a message, WhatsApp 4,096 too: a longer answer goes as a link
# The statutory grounds to leave an appeal without consideration, in the plain words the applicant reads
# (on the status page and in the notice). The only list: the desk's reject grounds and the back office's
# form are built from it.
LEAVE_GROUNDS = {
    "spam": _l("It is advertising or a mass mailing, not an appeal."),
    "abuse": _l("It contains obscene or abusive language."),
    "no_essence": _l("It has no substance, or its meaning cannot be understood."),
}
# the same grounds as staff name them on their screens (the desk's reject buttons, the back office's filter)
GROUND_NAMES = {"spam": _l("Spam"), "abuse": _l("Abusive language"), "no_essence": _l("No substance")}
assert GROUND_NAMES.keys() == LEAVE_GROUNDS.keys()


def ground_label(ground: str) -> str:
    """A statutory ground to leave an appeal without consideration, as the applicant reads it ("" if none)."""
    return str(LEAVE_GROUNDS[ground]) if ground in LEAVE_GROUNDS else ""


def format_access_code(code: str) -> str:
    """The access code in groups of four, as printed on the receipt: abcd-efgh-jkmn-pqrs."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def track_link(appeal: Appeal) -> str:
    """The applicant's page of the appeal (number and access code), as an absolute address."""
    return absolute_url("public.track_private", code=appeal.tracking_code, access=format_access_code(appeal.access_code))


def talon_link(appeal: Appeal) -> str:
    """The resident's talon of the appeal (number and access code) on the public address; "" without one
    (a chat is never sent a local address: it would reach no one)."""
    return public_url("public.talon", code=appeal.tracking_code, access=format_access_code(appeal.access_code))


def talon_line(appeal: Appeal) -> str:
    """The line that leads a chat to the appeal's talon: its link, or without a public address the status word."""
    link = talon_link(appeal)
    if link:
        return _("Your talon and the appeal's status: %(link)s", link=link)
    return _("Send “status” in this chat to see where your appeal stands.")


def status_hint(appeal: Appeal) -> str:
    """What a template names in place of the talon's link: the link, or the status word."""
    with force_locale(appeal.language):
        return talon_link(appeal) or _("send “status” in this chat")


def email_subject(appeal: Appeal) -> str:
    """The subject of an e-mail notice, in the current language."""
    return _("Your appeal %(code)s", code=appeal.tracking_code)


def email_body(appeal: Appeal, kind: str, link: str) -> str:
    """The letter telling the applicant of a step (answer, extend, forward, urgent, leave), in the current language."""
    lines = [_("Dear applicant,"), ""]
    if kind == "answer":
        lines += [_("Your appeal %(code)s has been answered:", code=appeal.tracking_code), "", appeal.answer]
    elif kind == "assign":  # a chat's notice only: e-mail stays as it was (outbox.NOTICE_KINDS)
        department = appeal.department.name(appeal.language) if appeal.department is not None else ""
        lines += [_("Your appeal %(code)s has been sent for consideration to: %(department)s.",
                    code=appeal.tracking_code, department=department)]
    elif kind == "extend":
        lines += [_("The term of your appeal %(code)s has been extended to %(date)s.", code=appeal.tracking_code,
                    date=format_date(appeal.due_date, "long")),
                  _("Reason: %(reason)s", reason=appeal.extension_reason)]
    elif kind == "leave":
        lines += [_("Your appeal %(code)s has been left without consideration.", code=appeal.tracking_code),
                  _("Ground: %(ground)s", ground=ground_label(appeal.leave_ground))]
    elif kind == "urgent":
        lines += [_("Your appeal %(code)s has been forwarded at once to: %(body)s, as the law requires for a "
                    "report of a crime or of a threat to security.", code=appeal.tracking_code, body=appeal.forwarded_to)]
    else:
        lines += [_("Your appeal %(code)s is outside our competence and has been forwarded to: %(body)s.",
                    code=appeal.tracking_code, body=appeal.forwarded_to)]
    if link:  # a chat's notice without a public address has none: the number above is what the resident keeps
        lines += ["", _("Follow your appeal here: %(link)s", link=link)]
    lines += ["", office_name(appeal.language)]
    return "\n".join(lines)


def email_text(appeal: Appeal, kind: str) -> str:
    """The e-mail notice of a step, in the appeal's language (its subject is made when it is sent)."""
    with force_locale(appeal.language):
        return email_body(appeal, kind, track_link(appeal))


def notice_text(appeal: Appeal, kind: str) -> str:
    """A chat's notice of a step (answer, extend, forward, urgent, leave) in the appeal's language; a long answer
    as a link on the public address, or whole without one (`parts` cuts it into messages)."""
    with force_locale(appeal.language):
        link = public_url("public.track_private", code=appeal.tracking_code,
                          access=format_access_code(appeal.access_code))
        body = email_body(appeal, kind, link)
        if len(body) > TEXT_LIMIT and link:
            body = "\n".join([_("Your appeal %(code)s has been answered:", code=appeal.tracking_code),
                              _("Follow your appeal here: %(link)s", link=link)])
    return body


def registered_text(appeal: Appeal) -> str:
    """The reply to a new question or appeal: its number and the talon's link, in the appeal's language."""
    with force_locale(appeal.language):
        return "\n".join([_("Received. Your number is %(code)s.", code=appeal.tracking_code), talon_line(appeal)])


def parts(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """A text cut into messages of at most `limit` characters, at paragraph or line ends where it can be."""
    found = []
    while len(text) > limit:
        cut = max(text.rfind("\n\n", 0, limit), text.rfind("\n", 0, limit))
        cut = cut if cut > limit // 2 else (text.rfind(" ", 0, limit) if text.rfind(" ", 0, limit) > limit // 2 else limit)
        found.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return found + [text] if text else found
