"""Staff accounts: create, change role, deactivate, reset password."""
from __future__ import annotations

import re
import secrets

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..extensions import db
from ..models import Role, User
from .audit import audit
from .errors import Conflict, NotFound, ValidationError

USERNAME = re.compile(r"^[a-z0-9_.-]{3,40}$")
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
                actor: User | None = None) -> tuple[User, str]:
    """Create a staff account; returns it and its password (generated when not given)."""
    username = (username or "").strip().lower()
    if not USERNAME.match(username):
        raise ValidationError(fields={"username": _l("3 to 40 lowercase letters, digits, dot, dash or underscore.")})
    _check_role(role)
    password = password or new_password()
    if len(password) < MIN_PASSWORD:
        raise ValidationError(fields={"password": _l("At least %(n)s characters.", n=MIN_PASSWORD)})
    if db.session.execute(select(User).where(User.username == username)).scalar_one_or_none():
        raise Conflict(_l("This username is taken."))
    user = User(username=username, role=role, display_name=display_name.strip() or username)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit(actor, "user_created", role=role, user=user.id)
    db.session.commit()
    return user, password


def get_user(user_id) -> User:
    """The account with this id, or NotFound."""
    user = db.session.get(User, int(user_id))
    if user is None:
        raise NotFound()
    return user


def update_user(user: User, *, role: str | None = None, active: bool | None = None,
                actor: User | None = None) -> User:
    """Change an account's role or activity; an admin cannot demote or deactivate themself."""
    if actor is not None and actor.id == user.id and (active is False or (role and role != user.role)):
        raise Conflict(_l("You cannot remove your own access."))
    if role is not None:
        user.role = _check_role(role)
    if active is not None:
        user.active = active
    audit(actor, "user_updated", user=user.id, role=user.role, active=user.active)
    db.session.commit()
    return user


def reset_password(user: User, *, actor: User | None = None) -> str:
    """Give the account a new random password and return it (shown once)."""
    password = new_password()
    user.set_password(password)
    audit(actor, "password_reset", user=user.id)
    db.session.commit()
    return password


def authenticate(username: str, password: str) -> User | None:
    """The active account with these credentials, or None."""
    user = db.session.execute(select(User).where(User.username == (username or "").strip().lower())).scalar_one_or_none()
    if user is None or not user.active or not user.check_password(password or ""):
        return None
    return user


def all_users() -> list[User]:
    """Every staff account, by username."""
    return list(db.session.execute(select(User).order_by(User.username)).scalars())
