"""What every browser test shares: each test's pages are closed when it ends."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _close_pages(request):
    """A test's browser contexts are closed after it: a page left open keeps running its scripts (a desk's
    clock, a socket reconnecting to the stopped server) in the module's Chromium for the tests after it."""
    yield
    if "browser" in request.fixturenames:
        for context in list(request.getfixturevalue("browser").contexts):
            context.close()


def _poll_every_50_ms():
    """`wait_for_function` polls on every animation frame unless told otherwise: 0.26 of a core for each second
    it waits, in Chromium, measured on this 2-core machine (every 50 ms: 0.01). The browser tests wait that way
    for the desk's state many times; they ask every 50 ms instead."""
    from playwright.sync_api import Frame, Page

    for cls in (Page, Frame):
        original = cls.wait_for_function
        if getattr(original, "polls_every_50_ms", False):
            continue

        def wait_for_function(self, expression, *, arg=None, timeout=None, polling=50, _original=original):
            return _original(self, expression, arg=arg, timeout=timeout, polling=polling)
        wait_for_function.polls_every_50_ms = True
        cls.wait_for_function = wait_for_function


_poll_every_50_ms()
