"""All authorisation rules in one place, shared by HTTP views and socket handlers."""
from __future__ import annotations

from functools import wraps

from flask import abort, redirect, request, url_for
from flask_login import current_user

from .models import Role
from .services.errors import Forbidden, Unauthorized

# permission -> roles that hold it
PERMISSIONS: dict[str, frozenset[str]] = {
    "moderate": frozenset({Role.ADMIN, Role.MODERATOR}),
    "prompt": frozenset({Role.ADMIN, Role.MODERATOR, Role.SPEAKER}),
    "administer": frozenset({Role.ADMIN}),
    # the back office of appeals; officers are further limited to their department (services.appeals.may_see)
    "appeals": frozenset({Role.ADMIN, Role.OFFICER, Role.HEAD}),
    # the reasoned decision to extend an appeal's term (APPK art. 76(2)): the head or a deputy, not an admin
    "decide_extension": frozenset({Role.HEAD}),
    # a broadcast's results: its report, PDF, spreadsheet of questions, and the report e-mailed now
    "broadcast_report": frozenset({Role.ADMIN, Role.MODERATOR, Role.HEAD}),
}


def can(user, permission: str) -> bool:
    """True when `user` is a signed-in, active account holding `permission`."""
    return bool(getattr(user, "is_authenticated", False) and user.is_active
                and user.role in PERMISSIONS[permission])


def require(user, permission: str) -> None:
    """Raise Unauthorized (no account) or Forbidden (wrong role) unless `user` may do this."""
    if not getattr(user, "is_authenticated", False):
        raise Unauthorized()
    if not can(user, permission):
        raise Forbidden()


def permission_required(permission: str):
    """View decorator: redirect to login when signed out, 403 when the role lacks `permission`."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("auth.login", next=request.full_path))
            if not can(current_user, permission):
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator
