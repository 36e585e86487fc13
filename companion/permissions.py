"""All authorisation rules in one place, shared by HTTP views and socket handlers."""
from __future__ import annotations

from functools import wraps

from flask import abort, redirect, request, url_for
from flask_login import current_user

from .models import SEES_EVERY_APPEAL, Promise, Role
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
    # the back office of promises made on air; officers are further limited to their department (may_manage_promise)
    "promises": frozenset({Role.ADMIN, Role.HEAD, Role.OFFICER}),
    # the phone operator's screen: lookups by the caller's number or a tracking number, never the appeals list
    # (services.appeals.may_see and appeal_list.filtered refuse the role every appeal)
    "operate": frozenset({Role.OPERATOR}),
    # block a question's sender on every channel, and lift blocks (services/blocking.py)
    "block": frozenset({Role.ADMIN, Role.MODERATOR}),
    # a broadcast's results: its report, PDF, spreadsheet of questions, and the report e-mailed now
    "broadcast_report": frozenset({Role.ADMIN, Role.MODERATOR, Role.HEAD}),
    # staff analytics of appeals; an officer's figures are limited to their department (services.analytics)
    "analytics": frozenset({Role.ADMIN, Role.HEAD, Role.OFFICER}),
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


def may_manage_promise(user, promise: Promise) -> bool:
    """Admins and the head manage every promise; an officer, the promises of their own department."""
    return may_manage_department_promises(user, promise.department_id)


def may_rewrite_published_promise(user) -> bool:
    """True when `user` may change the words or the date of a promise already published (the office's
    public word): the head or an admin, not the department's officer."""
    return can(user, "promises") and user.role in SEES_EVERY_APPEAL


def may_manage_department_promises(user, department_id: int | None) -> bool:
    """True when `user` may manage (or hand over to) the promises of this department (None: no department)."""
    if not can(user, "promises"):
        return False
    if user.role in SEES_EVERY_APPEAL:
        return True
    return user.department_id is not None and department_id == user.department_id


def promises_visible_to(user):
    """The SQL twin of may_manage_promise: a WHERE condition on Promise for the staff list."""
    from sqlalchemy import false, true
    if not can(user, "promises"):
        return false()
    if user.role in SEES_EVERY_APPEAL:
        return true()
    if user.department_id is None:
        return false()
    return Promise.department_id == user.department_id
