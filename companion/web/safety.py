"""Request-wide guards: redirects that stay on the site, ids that fit the database, JSON that cannot
exhaust the parser, and no caching of pages and files with personal data.

Each replaces a 500 (or a redirect off the site) found by trying the app as an attacker would
(issue 19, items 8 and 14)."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Flask, Request, abort, request, session
from flask_login import current_user
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, ValidationError

from ..services.fields import parse_id

# C0 and C1 control characters, DEL, and the backslash: browsers drop tabs and line breaks from an
# address and read "\" as "/", so "/\t/evil.example" and "/\\evil.example" lead to another host.
UNSAFE_IN_TARGET = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


def local_target(target) -> str | None:
    """`target` when it is a path on this site ("/b/demo?x=1"), else None: no scheme, no host, one
    leading slash, no control characters or backslashes (so no CR/LF into the Location header)."""
    if not isinstance(target, str) or not target or len(target) > 2048 or UNSAFE_IN_TARGET.search(target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def same_site_referrer() -> str | None:
    """The Referer's path and query when it is a page of this site, else None."""
    referrer = request.referrer
    if not referrer or UNSAFE_IN_TARGET.search(referrer):
        return None
    parts = urlsplit(referrer)
    if (parts.scheme, parts.netloc) != (request.scheme, request.host):
        return None
    return local_target((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))


class IdConverter(IntegerConverter):
    """`<int:...>` in routes: ASCII digits and at most 63 bits (the databases' BIGINT). A larger
    number is no page (404) instead of the driver's overflow (500)."""

    regex = r"[0-9]+"

    def to_python(self, value: str) -> int:
        number = parse_id(value)
        if number is None:
            raise ValidationError()
        return number


class CompanionRequest(Request):
    """A JSON body nested too deeply for the parser (50,000 brackets) is a bad request, not a
    RecursionError (a 500)."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True):
        try:
            return super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            if silent:
                return None
            raise BadRequest("The JSON body is nested too deeply.") from None


# Pages and files with personal data: an appeal's pages (its text, receipt and QR code), the API's
# and Open311's appeals, the staff screens and the back office with its exports, the sign-in page;
# and the answer to every POST (receipts). Nothing of them may stay in a browser's or a proxy's
# cache. By path, so that a page added under these prefixes is covered too.
PRIVATE_PATHS = ("/track", "/api/v1/appeals", "/open311/v2/requests", "/appeals", "/admin", "/moderate",
                 "/prompter", "/login", "/logout")


def _private() -> bool:
    if request.path.startswith(PRIVATE_PATHS) or request.method not in ("GET", "HEAD"):
        return True
    if request.endpoint == "static":  # public files keep their caching
        return False
    # a signed-in staff member's pages carry their name, and more
    return bool(getattr(current_user, "is_authenticated", False))


def install(app: Flask) -> None:
    """Attach the guards to the app (before any blueprint is registered: the id converter applies to
    the routes added after it)."""
    app.url_map.converters["int"] = IdConverter
    app.request_class = CompanionRequest

    @app.before_request
    def refuse_nul_in_address():
        """A NUL in the path or the query reaches no page (PostgreSQL refuses it in any text)."""
        if "\x00" in request.path or any("\x00" in key or "\x00" in value
                                         for key, value in request.args.items(multi=True)):
            abort(400)

    @app.after_request
    def no_store_for_personal_data(response):
        if _private() and "no-store" not in response.headers.get("Cache-Control", ""):
            response.headers["Cache-Control"] = "no-store"  # a view's own "private, no-store" stays
            response.headers.pop("Expires", None)
        elif session.modified and "Cache-Control" not in response.headers:  # the cookie is set after this hook
            # the viewer's token (which opens "my questions" and their access codes) is in that
            # cookie: no shared cache may keep the response and hand the cookie to someone else
            response.headers["Cache-Control"] = "private, no-cache"
        return response
