"""Staff analytics of appeals: one page of charts with their tables, and each table as CSV."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import get_locale
from flask_login import current_user

from .guard import permission_required
from ..services import analytics, appeal_list
from ..errors import ValidationError

bp = Blueprint("analytics", __name__, url_prefix="/analytics")


@bp.get("")
@permission_required("analytics")
def index():
    """The analytics the user may see (an officer: their department), from the cache."""
    payload = analytics.analytics_for(current_user)
    locale = str(get_locale())
    everything = analytics.scope_key(current_user) == "analytics:all"
    return render_template("analytics.html", a=payload, tables=analytics.tables(payload, locale, everything),
                           everything=everything,
                           computed_at=datetime.fromisoformat(payload["computed_at"]))


@bp.get("/<name>.csv")
@permission_required("analytics")
def table_csv(name: str):
    """One chart's table as CSV (the separator of the page's language unless `sep` says otherwise)."""
    if name not in analytics.TABLES:
        abort(404)
    locale = str(get_locale())
    try:
        separator = appeal_list.csv_separator(request.args.get("sep"), locale)
    except ValidationError:
        abort(400)
    everything = analytics.scope_key(current_user) == "analytics:all"
    table = analytics.tables(analytics.analytics_for(current_user), locale, everything)[name]
    headers = {"Content-Disposition": f'attachment; filename="analytics-{name}.csv"', "Cache-Control": "no-store"}
    return Response(analytics.table_csv(table, separator), content_type="text/csv; charset=utf-8", headers=headers)
