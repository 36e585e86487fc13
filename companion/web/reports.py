"""A broadcast's report for the office, the morning after: the page, its PDF, the spreadsheet of its
questions, and the report e-mailed to its recipients (services/broadcast_report.py, services/report_mail.py)."""
from __future__ import annotations

import re

from babel import numbers
from flask import Blueprint, Response, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import force_locale, format_date, get_locale
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from markupsafe import escape

from .. import durability
from ..config import ROOT
from ..extensions import db
from ..models import Broadcast, BroadcastStatus
from ..permissions import can
from .guard import permission_required
from ..services import appeal_list, broadcast_report, report_mail
from ..services import broadcasts as broadcast_service
from ..errors import ServiceError, ValidationError
from ..services.office import office_name
from .forms import EmptyForm
from .public import broadcast_or_404

bp = Blueprint("reports", __name__)
PRINT_CSS = ROOT / "static" / "css" / "report-print.css"


PAGE_LIST_LIMIT = 500  # rows of each list on the page, unless ?all=1: the rest is one link (or the XLSX) away
# rows of each list in the PDF, the most asked first: WeasyPrint lays out some 50-100 table rows a second here
# (docs/performance.md), and who owes a written answer matters most the morning after
PDF_LIST_LIMITS = {"answered": 50, "follow_ups": 100, "not_reached": 100}


class Formats:
    """Numbers and dates for thousands of rows: Babel's format per cell cost more than the rest of the page."""

    def __init__(self, locale: str):
        self.group = numbers.get_group_symbol(locale)
        self.days: dict = {}

    def n(self, value: int) -> str:
        """An integer with the locale's thousands separator."""
        return f"{value:,}".replace(",", self.group)

    def day(self, value) -> str:
        """A date in the locale's medium format, formatted once per distinct date."""
        if value not in self.days:
            self.days[value] = format_date(value, "medium")
        return self.days[value]


def _context(broadcast: Broadcast, locale: str, typed_districts: bool = True) -> dict:
    return {"report": broadcast_report.compute(broadcast, locale, typed_districts=typed_districts),
            "minutes": broadcast_report.minutes, "fmt": Formats(locale)}


LONG_RUN = re.compile(r"\S{30,}")
BREAK_EVERY = 15


def breakable(text: str) -> str:
    """The text with a zero-width space every 15 characters of a run of 30 or more without a space (a
    pasted link): WeasyPrint breaks lines only at spaces here, and such a run widened its table's column
    until the other columns fell off the page. Ordinary words are left whole."""
    if not text or len(text) < 30:
        return text
    return LONG_RUN.sub(lambda m: "\u200b".join(m.group(0)[i:i + BREAK_EVERY]
                                                 for i in range(0, len(m.group(0)), BREAK_EVERY)), text)


def _breakable_report(report: dict) -> None:
    """Residents' and staff's free text in the PDF made breakable (breakable); the page leaves it to the browser."""
    for key in ("answered", "follow_ups", "not_reached"):
        for item in report[key]:  # the same dicts are in most_wanted_not_reached
            item["text"] = breakable(item["text"])
    for promise in report["promises"]:
        promise["text"], promise["who"] = breakable(promise["text"]), breakable(promise["who"])
    for bar in (*report["topic_tags"], *report["topics"], *report["districts"]):
        bar.label = breakable(bar.label)


def _fetch_nothing(url: str, *args, **kwargs):
    raise ValueError("the report fetches nothing")


def render_pdf(broadcast: Broadcast, locale: str, for_mail: bool = False) -> tuple[bytes, str]:
    """The report as a PDF in `locale` (WeasyPrint, DejaVu Sans: every Kazakh letter) and its file name;
    `for_mail`: the copy that leaves by e-mail, without what residents wrote (it may hold personal data).

    The HTML is made here, with the database; the PDF is laid out in a real thread (`durability.run_blocking`),
    so a long report never holds the event loop that serves everyone else."""
    with force_locale(locale):
        # the e-mailed copy names only the office's own districts: a district as typed is a resident's words
        context = _context(broadcast, locale, typed_districts=not for_mail)
        _breakable_report(context["report"])
        html = render_template("reports/report_pdf.html", locale=locale, office_name=office_name(locale), limits=PDF_LIST_LIMITS,
                               for_mail=for_mail, **context)
    db.session.rollback()  # the read is over: no transaction stays open while the PDF is laid out

    def lay_out() -> bytes:
        import weasyprint
        # nothing is fetched while laying out: the report is made of its own HTML and stylesheet only
        return weasyprint.HTML(string=html, url_fetcher=_fetch_nothing).write_pdf(
            stylesheets=[weasyprint.CSS(filename=str(PRINT_CSS))])
    return durability.run_blocking(lay_out), broadcast_report.file_name(broadcast, "pdf")


def mailed_pdf(broadcast: Broadcast, locale: str) -> tuple[bytes, str]:
    """The PDF the report's e-mail carries (services.report_mail renders it through this)."""
    return render_pdf(broadcast, locale, for_mail=True)


@bp.app_template_filter("escape_values")
def escape_values(labels: dict) -> dict:
    """The labels escaped once (Markup), for a template that writes each in thousands of rows."""
    return {key: escape(value) for key, value in labels.items()}


@bp.get("/reports")
@permission_required("broadcast_report")
def index():
    """The broadcasts whose report staff can open: ended ones first, newest first."""
    rows = broadcast_service.list_broadcasts()
    rows.sort(key=lambda row: row[0].status != BroadcastStatus.ENDED)
    return render_template("reports/index.html", rows=rows)


@bp.get("/broadcasts/<slug>/report")
@permission_required("broadcast_report")
def report(slug: str):
    """The report of one broadcast (any status: a live one's figures so far)."""
    broadcast = broadcast_or_404(slug)
    locale = str(get_locale())
    every = request.args.get("all") == "1"
    failing, error = report_mail.retrying(broadcast)
    return render_template("reports/report.html", form=EmptyForm(), waiting=report_mail.waiting(broadcast),
                           failing=failing, mail_error=error,
                           limits=None if every else dict.fromkeys(PDF_LIST_LIMITS, PAGE_LIST_LIMIT),
                           all_url=url_for("reports.report", slug=slug, all=1, lang=locale) + "#not-reached",
                           recipients=report_mail.recipients_of(broadcast), **_context(broadcast, locale))


@bp.get("/broadcasts/<slug>/report.pdf")
@permission_required("broadcast_report")
def report_pdf(slug: str):
    """The report as a PDF, in the page's language."""
    broadcast = broadcast_or_404(slug)
    try:
        # one rendering at a time per process, as the exports (a second or more of CPU each: repeated
        # clicks must not take both cores)
        with appeal_list.export_slot():
            data, name = render_pdf(broadcast, str(get_locale()))
    except appeal_list.ExportBusy:
        response = make_response(render_template("error.html", code=503, message=_(
            "Something went wrong on our side. Please try again in a minute.")), 503)
        response.headers["Retry-After"] = "60"
        return response
    return Response(data, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"})


@bp.get("/broadcasts/<slug>/report.<fmt>")
@permission_required("broadcast_report")
def questions_export(slug: str, fmt: str):
    """The broadcast's questions as CSV or XLSX, every column a person filters on, headers in the page's language."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    broadcast = broadcast_or_404(slug)
    locale = str(get_locale())
    try:
        separator = appeal_list.csv_separator(request.args.get("sep"), locale)
    except ValidationError as exc:
        return render_template("error.html", code=400, message="; ".join(
            f"{k}: {v}" for k, v in exc.fields.items())), 400
    headers = {"Content-Disposition": f'attachment; filename="{broadcast_report.file_name(broadcast, fmt)}"',
               "Cache-Control": "no-store"}
    if fmt == "csv":
        return Response(broadcast_report.export_csv(broadcast, locale, separator),
                        content_type="text/csv; charset=utf-8", headers=headers)
    try:
        data = broadcast_report.export_xlsx(broadcast, locale)
    except appeal_list.ExportBusy:
        response = make_response(render_template("error.html", code=503, message=_(
            "Something went wrong on our side. Please try again in a minute.")), 503)
        response.headers["Retry-After"] = "60"
        return response
    return Response(data, headers=headers, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.post("/broadcasts/<slug>/report/mail")
@permission_required("broadcast_report")
def mail_now(slug: str):
    """E-mail the report to the broadcast's recipients now (queued: the serving process's mailer sends it)."""
    broadcast = broadcast_or_404(slug)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        count = report_mail.send_now(broadcast, actor=current_user)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        flash(ngettext("The report will be e-mailed to %(num)s recipient within a minute.",
                       "The report will be e-mailed to %(num)s recipients within a minute.", count), "ok")
    if request.form.get("back") == "broadcast" and can(current_user, "moderate"):
        return redirect(url_for("admin.broadcast_detail", broadcast_id=broadcast.id) + "#report")
    return redirect(url_for("reports.report", slug=slug))


@bp.post("/broadcasts/<slug>/report/recipients")
@permission_required("moderate")
def recipients(slug: str):
    """Set who gets the broadcast's report by e-mail when it ends (moderators and admins)."""
    broadcast = broadcast_or_404(slug)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        report_mail.save_recipients(broadcast, request.form.get("report_recipients", ""), actor=current_user)
    except ServiceError as exc:
        db.session.rollback()
        flash(" ".join([str(exc.message), *(str(v) for v in exc.fields.values())]), "error")
    else:
        flash(_("Saved."), "ok")
    return redirect(url_for("admin.broadcast_detail", broadcast_id=broadcast.id) + "#report")
