"""Socket.IO: handlers per role (viewer.py, staff.py) and the one module that emits (emit.py)."""


def register() -> None:
    """Import the handler modules so their decorators register on the shared SocketIO object."""
    from . import staff, viewer  # noqa: F401
