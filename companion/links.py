"""Absolute addresses for QR codes, receipts, pages and e-mails: never from a Host header a client chose.

On COMPANION_PUBLIC_URL when it is set (it must be, to serve beyond loopback: `config.check_public_url`).
Unset, a request's own address is used only when it names a loopback host, which no outsider can
reach, and otherwise the configured HOST and PORT.
"""
from __future__ import annotations

from flask import current_app, has_request_context, request, url_for

from .config import is_loopback


def base_url() -> str:
    """The scheme, host and port that absolute links start with (no trailing slash)."""
    cfg = current_app.config
    if cfg["PUBLIC_URL"]:
        return cfg["PUBLIC_URL"].rstrip("/")
    if has_request_context() and is_loopback(request.host):
        return request.host_url.rstrip("/")
    host = cfg["HOST"]
    return f"http://{f'[{host}]' if ':' in host else host}:{cfg['PORT']}"


def absolute_url(endpoint: str, **values) -> str:
    """The absolute address of `endpoint` on `base_url()`."""
    return base_url() + url_for(endpoint, **values)


def public_url(endpoint: str, **values) -> str:
    """The address of `endpoint` on COMPANION_PUBLIC_URL, for a message that leaves the machine (a chat's reply or
    notice); "" when it is not set: a loopback or HOST:PORT address would reach no resident."""
    public = current_app.config["PUBLIC_URL"]
    return public.rstrip("/") + url_for(endpoint, **values) if public else ""
