"""The moderator's control screen and the speaker's teleprompter."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_babel import get_locale

from .guard import permission_required
from ..services import appeals, moderation
from .public import broadcast_or_404, public_url

bp = Blueprint("staff", __name__)


@bp.get("/moderate/<slug>")
@permission_required("moderate")
def moderate(slug: str):
    """The moderator's live control screen."""
    broadcast = broadcast_or_404(slug)
    return render_template("moderate.html", broadcast=broadcast,
                           page_url=public_url("public.viewer", slug=slug), grounds=moderation.reject_grounds(),
                           departments=[{"id": d.id, "name": d.name(str(get_locale() or "kk"))}
                                        for d in appeals.departments(active_only=True)])


@bp.get("/prompter/<slug>")
@permission_required("prompt")
def prompter(slug: str):
    """The speaker's teleprompter."""
    broadcast = broadcast_or_404(slug)
    return render_template("prompter.html", broadcast=broadcast)
