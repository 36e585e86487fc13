"""Staff accounts: create, change role, deactivate, reset password, sign in, unlock."""
from __future__ import annotations

import re
import secrets

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select, update

from ..extensions import db
from ..models import Department, LoginSession, Role, User, utcnow
from ..permissions import can
from . import limits, passwords
from .audit import audit
from ..errors import Conflict, NotFound, ValidationError
from .fields import Limit, at_most_characters, parse_id, storable

USERNAME = re.compile(rf"^[a-z0-9_.-]{{3,{Limit.USERNAME}}}$")  # create_user's message says 40
MIN_PASSWORD = 10


def new_password() -> str:
    """A random password people can type: 4 groups of 4 letters and digits."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def _check_role(role: str) -> str:
    if role not in {r.value for r in Role}:
        raise ValidationError(fields={"role": _l("Unknown role.")})
    return role


def create_user(username: str, role: str, password: str | None = None, *, display_name: str = "",
                position: str = "", department_id: int | None = None, actor: User | None = None) -> tuple[User, str]:
    """Create a staff account; returns it and its password (generated when not given)."""
    username = (username or "").strip().lower()
    if not USERNAME.match(username):
        raise ValidationError(fields={"username": _l("3 to 40 lowercase letters, digits, dot, dash or underscore.")})
    _check_role(role)
    password = password or new_password()
    if len(password) < MIN_PASSWORD:
        raise ValidationError(fields={"password": ngettext("At least %(num)s character.",
                                                           "At least %(num)s characters.", MIN_PASSWORD)})
    if db.session.execute(select(User).where(User.username == username)).scalar_one_or_none():
        raise Conflict(_l("This username is taken."))
    if department_id is not None and (parse_id(department_id) is None
                                      or db.session.get(Department, parse_id(department_id)) is None):
        raise ValidationError(fields={"department_id": _l("This department does not exist.")})
    user = User(username=username, role=role, display_name=display_name.strip() or username,
                position=_position(position), department_id=department_id)
    with passwords.turn():
        user.password_hash = passwords.make(password)
    db.session.add(user)
    db.session.flush()
    audit(actor, "user_created", role=role, user=user.id)
    db.session.commit()
    return user, password


def _position(value) -> str:
    """A staff member's position as typed, or ValidationError."""
    value = (value or "").strip() if isinstance(value, str) else ""
    if len(value) > Limit.POSITION or not storable(value):
        raise ValidationError(fields={"position": at_most_characters(Limit.POSITION)})
    return value


def get_user(user_id) -> User:
    """The account with this id, or NotFound."""
    user = db.session.get(User, parse_id(user_id)) if parse_id(user_id) else None
    if user is None:
        raise NotFound()
    return user


KEEP = object()


def update_user(user: User, *, role: str | None = None, active: bool | None = None, department_id=KEEP,
                position: str | None = None, actor: User | None = None) -> User:
    """Change an account's role, activity, department or position; an admin cannot demote or deactivate themself."""
    if actor is not None and actor.id == user.id and (active is False or (role and role != user.role)):
        raise Conflict(_l("You cannot remove your own access."))
    changed = (role is not None and role != user.role) or (active is not None and active != user.active)
    if position is not None:
        user.position = _position(position)
    if role is not None:
        user.role = _check_role(role)
    if active is not None:
        user.active = active
    if department_id is not KEEP:
        new = parse_id(department_id) if department_id not in (None, "") else None
        if department_id not in (None, "") and (new is None or db.session.get(Department, new) is None):
            raise ValidationError(fields={"department_id": _l("This department does not exist.")})
        changed = changed or new != user.department_id
        user.department_id = new
    if changed:
        revoke_sessions(user)  # a changed account signs in again, with its new rights
    audit(actor, "user_updated", user=user.id, role=user.role, active=user.active, department=user.department_id)
    db.session.commit()
    return user


def reset_password(user: User, *, actor: User | None = None) -> str:
    """Give the account a new random password and return it (shown once)."""
    password = new_password()
    with passwords.turn():
        user.password_hash = passwords.make(password)
    limits.forget_login_failures(user.username)
    revoke_sessions(user)
    audit(actor, "password_reset", user=user.id)
    db.session.commit()
    return password


def authenticate(username: str, password: str, address: str | None) -> User | None:
    """The active account with these credentials, or None (the caller shows one generic message).

    Raises RateLimited while `address` must wait: after too many failures from it across names, or
    for this name from it (`limits.count_login_failure`). Guesses from one address never lock the
    account's owner out at another, and an unknown name costs what a known one does: a hash is
    checked either way, and the same rows are written. Every failure and every wait is audited."""
    name = (username or "").strip().lower()[:Limit.USERNAME]
    with passwords.turn():
        limits.check_login_rate(address)
        wait = limits.login_wait(name, address)
        if wait:
            raise limits.RateLimited(retry_after=wait)
        user = db.session.execute(select(User).where(User.username == name)).scalar_one_or_none()
        if passwords.matches(user.password_hash if user else None, password or "") and user.active:
            limits.forget_login_failures(name, address)
            return user
        audit(user, "login_failed", **({} if user else {"username": name}))
        until = limits.count_login_failure(name, address)
        if until is not None:
            audit(user, "login_throttled", until=until.isoformat(), **({} if user else {"username": name}))
        db.session.commit()
    return None


def unlock(user: User, *, actor: User | None = None) -> int:
    """Let every address try this account again at once; the password stays. Returns the pairs cleared."""
    cleared = limits.forget_login_failures(user.username)
    audit(actor, "login_unlocked", user=user.id, cleared=cleared)
    db.session.commit()
    return cleared


def start_session(user: User) -> LoginSession:
    """Record a sign-in; its id goes into the browser session."""
    login = LoginSession(id=secrets.token_urlsafe(32), user_id=user.id)
    db.session.add(login)
    audit(user, "login")
    db.session.commit()
    return login


def signed_in_user(user_id, login_id: str | None) -> User | None:
    """The account of this sign-in while the sign-in has not been revoked, else None.
    One query: it runs on every staff request and socket event."""
    user_id = parse_id(user_id)
    if user_id is None or not login_id:
        return None
    return db.session.execute(select(User).join(LoginSession, LoginSession.user_id == User.id).where(
        User.id == user_id, LoginSession.id == login_id, LoginSession.revoked_at.is_(None))).scalar_one_or_none()


def end_session(login_id: str | None, actor: User | None = None) -> None:
    """Log out: revoke this sign-in (its open sockets are closed by the session watcher)."""
    login = db.session.get(LoginSession, login_id) if login_id else None
    if login is not None and login.revoked_at is None:
        login.revoked_at = utcnow()
        audit(actor, "logout")
        db.session.commit()


def revoke_sessions(user: User) -> None:
    """Revoke every sign-in of an account (in the current transaction)."""
    db.session.execute(update(LoginSession).where(LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))


def revoked_logins(login_ids: list[str]) -> list[str]:
    """Those of `login_ids` that are revoked, unknown, or whose account may no longer use the live desk."""
    if not login_ids:
        return []
    rows = db.session.execute(select(LoginSession, User).join(User, User.id == LoginSession.user_id)
                              .where(LoginSession.id.in_(login_ids))).all()
    alive = {login.id for login, user in rows if login.revoked_at is None and can(user, "prompt")}
    return [i for i in login_ids if i not in alive]


def all_users() -> list[User]:
    """Every staff account, by username."""
    return list(db.session.execute(select(User).order_by(User.username)).scalars())
