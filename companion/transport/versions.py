"""The libraries whose internals the transport replaces, at the versions it was written and tested for.

`hub` subclasses python-engineio's socket and reads eventlet's WebSocket object; a release that
changed either could fail in ways no error names (a viewer that never hears a broadcast). So the
server refuses to start on other versions, and says which."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

# package: the release series known to work (the prefix of its version)
SUPPORTED = {"python-engineio": "4.15.", "python-socketio": "5.18.", "eventlet": "0.41.", "wsproto": "1.3."}


class UnsupportedLibrary(RuntimeError):
    """A library the transport depends on is at a version it was not written for."""


def installed(package: str) -> str | None:
    """The installed version of `package`, or None."""
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def check(found: dict[str, str | None] | None = None) -> None:
    """Raise UnsupportedLibrary naming every library outside its supported series."""
    found = found if found is not None else {name: installed(name) for name in SUPPORTED}
    wrong = [f"{name} {found.get(name) or 'is not installed'} (supported: {series}x)"
             for name, series in SUPPORTED.items() if not (found.get(name) or "").startswith(series)]
    if wrong:
        raise UnsupportedLibrary("the WebSocket transport was written for other versions of: " + "; ".join(wrong)
                                 + ". Install requirements.txt, or run with COMPANION_ASYNC_MODE=gevent.")
