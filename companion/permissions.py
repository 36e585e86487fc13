"""Every authorisation rule in one place, as plain functions of the user (no Flask request here):
who holds which permission, and which appeals and promises a user sees, each rule written once in
Python (for one row) and beside it as SQL (for a list), shared by the pages, the API, the sockets
and the services. The pages' decorator that applies these rules is `web.guard.permission_required`."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, false, true

from .models import Appeal, Broadcast, Promise, Question, QuestionStatus, Role
from .errors import Forbidden, Unauthorized

# permission -> roles that hold it
PERMISSIONS: dict[str, frozenset[str]] = {
    "moderate": frozenset({Role.ADMIN, Role.MODERATOR}),
    "prompt": frozenset({Role.ADMIN, Role.MODERATOR, Role.SPEAKER}),
    "administer": frozenset({Role.ADMIN}),
    # the back office of appeals; officers are further limited to their department (appeal_scope below)
    "appeals": frozenset({Role.ADMIN, Role.OFFICER, Role.HEAD}),
    # the reasoned decision to extend an appeal's term (APPK art. 76(2)): the head or a deputy, not an admin
    "decide_extension": frozenset({Role.HEAD}),
    # the back office of promises made on air; officers are further limited to their department (may_manage_promise)
    "promises": frozenset({Role.ADMIN, Role.HEAD, Role.OFFICER}),
    # the phone operator's screen: lookups by the caller's number or a tracking number, never the appeals list
    # (appeal_scope below gives the role no appeal)
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


# ---- what the audience of a broadcast sees (the viewers' page, the big screen, the overlay) ------

# the statuses the audience sees when the broadcast's public feed is on; with it off, only the question on air
PUBLIC_STATUSES = frozenset({QuestionStatus.APPROVED, QuestionStatus.QUEUED, QuestionStatus.ON_AIR,
                             QuestionStatus.ANSWERED})


def audience_sees(question: Question, broadcast: Broadcast) -> bool:
    """True when viewers of the broadcast may see this question now; its SQL twin is audience_questions."""
    if question.status == QuestionStatus.ON_AIR:
        return True
    return bool(broadcast.public_feed) and question.status in PUBLIC_STATUSES


def shows_asker(question: Question, broadcast: Broadcast) -> bool:
    """True when public screens may show the asker's name and district: the broadcast allows names of
    those who agreed, and this asker agreed."""
    return bool(broadcast.show_asker and question.show_name)


# the questions the audience may vote on: those still to be asked, and the one on air
VOTABLE = frozenset({QuestionStatus.APPROVED, QuestionStatus.QUEUED, QuestionStatus.ON_AIR})


def audience_may_vote(question: Question) -> bool:
    """True while a question the audience sees may still be voted up (the viewers' page is told per question)."""
    return question.status in VOTABLE


def audience_questions(stmt, public_feed: bool):
    """The SQL twin of audience_sees: `stmt` limited to what the audience of the broadcast bound as
    `broadcast_id` sees, for its public_feed setting."""
    stmt = stmt.where(Question.broadcast_id == bindparam("broadcast_id"))
    if public_feed:
        return stmt.where(Question.status.in_([s.value for s in PUBLIC_STATUSES]))
    return stmt.where(Question.status == QuestionStatus.ON_AIR)


# ---- which appeals a user sees: the back office list, one appeal, the analytics -----------------

# who sees every appeal in the back office; an officer sees their department's, nobody else any
SEES_EVERY_APPEAL = frozenset({Role.ADMIN, Role.HEAD})


@dataclass(frozen=True)
class AppealScope:
    """The part of the appeals a user sees: all of them, one department's, or none."""
    everything: bool = False
    department_id: int | None = None  # when not everything: the officer's department; None sees nothing

    @property
    def key(self) -> str:
        """A name for caching what this scope sees (analytics)."""
        return "all" if self.everything else f"department:{self.department_id or 0}"


def appeal_scope(user) -> AppealScope:
    """Admins and the head see every appeal; an officer, their own department's; anyone else none (an
    operator finds a caller's appeals by number in services.operator, and lists none)."""
    if user.role in SEES_EVERY_APPEAL:
        return AppealScope(everything=True)
    if user.role == Role.OFFICER and user.department_id is not None:
        return AppealScope(department_id=user.department_id)
    return AppealScope()


def may_see_appeal(user, appeal: Appeal) -> bool:
    """The rule for one appeal; its SQL twin for a list is appeals_visible."""
    scope = appeal_scope(user)
    return scope.everything or (scope.department_id is not None and appeal.department_id == scope.department_id)


def appeals_visible(scope: AppealScope):
    """The SQL twin of may_see_appeal: a WHERE condition on Appeal for what `scope` sees."""
    if scope.everything:
        return true()
    if scope.department_id is None:
        return false()
    return Appeal.department_id == scope.department_id


def key_filed(key, appeal: Appeal) -> bool:
    """An integrator's API key sees in full the appeals it filed (Open311's service requests), no others;
    its SQL twin is filed_by."""
    return key is not None and appeal.api_key_id == key.id


def filed_by(key):
    """The SQL twin of key_filed: a WHERE condition on Appeal."""
    return false() if key is None else Appeal.api_key_id == key.id


# ---- promises made on air --------------------------------------------------------------------

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
    if not can(user, "promises"):
        return false()
    if user.role in SEES_EVERY_APPEAL:
        return true()
    if user.department_id is None:
        return false()
    return Promise.department_id == user.department_id
