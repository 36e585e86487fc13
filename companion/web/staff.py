"""The moderator's control screen and the speaker's teleprompter."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template

from .guard import permission_required
from ..services import appeals, moderation
from ..services.language import current_language
from ..services.fields import Limit, name_limit
from .public import broadcast_or_404, public_url

bp = Blueprint("staff", __name__)

# The desk's single keys, by action: the page's key list and its script (the keyboard, the buttons' hints) read
# this one map. A key acts only when the selected question's actions, sent by the server, include its action;
# merge_group, accept_category and mark_promise are not transitions: the desk checks those itself.
DESK_KEYS = {"approve": "a", "queue": "q", "send_to_air": "Enter", "mark_answered": "x", "take_off_air": "u",
             "defer": "d", "reject": "r", "edit": "e", "merge": "m", "follow_up": "f", "merge_group": "g",
             "accept_category": "c", "mark_promise": "p"}


@bp.get("/moderate/<slug>")
@permission_required("moderate")
def moderate(slug: str):
    """The moderator's live control screen."""
    broadcast = broadcast_or_404(slug)
    return render_template("moderate.html", broadcast=broadcast,
                           page_url=public_url("public.viewer", slug=slug), grounds=moderation.reject_grounds(),
                           departments=[{"id": d.id, "name": d.name(current_language())}
                                        for d in appeals.departments(active_only=True)],
                           limits=desk_limits(), keys=DESK_KEYS)


def desk_limits() -> dict[str, int]:
    """The longest value of each of the desk's fields, for its script: the fields' own (services/fields.py)
    and the settings the server holds a question and a name to (QUESTION_MAX_LENGTH, NAME_MAX_LENGTH)."""
    return {**Limit.as_dict(), "QUESTION": current_app.config["QUESTION_MAX_LENGTH"],
            "NAME": name_limit(current_app.config)}


@bp.get("/prompter/<slug>")
@permission_required("prompt")
def prompter(slug: str):
    """The speaker's teleprompter."""
    broadcast = broadcast_or_404(slug)
    return render_template("prompter.html", broadcast=broadcast)
