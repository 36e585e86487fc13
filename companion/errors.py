"""Domain errors: each has a stable code, an HTTP status and a message a person can read."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l


class ServiceError(Exception):
    """Base of all refusals a service can give."""

    code = "error"
    status = 400
    default_message = _l("The request could not be completed.")

    def __init__(self, message=None, *, fields: dict | None = None, **detail):
        super().__init__(str(message or self.default_message))
        self.message = message or self.default_message
        self.fields = fields or {}
        self.detail = detail

    def to_dict(self) -> dict:
        """The error as the API and socket acknowledgements report it."""
        body = {"code": self.code, "message": str(self.message)}
        if self.fields:
            body["fields"] = {k: str(v) for k, v in self.fields.items()}
        body.update(self.detail)
        return body


class ValidationError(ServiceError):
    code = "invalid"
    status = 400
    default_message = _l("Please correct the highlighted fields.")


class NotFound(ServiceError):
    code = "not_found"
    status = 404
    default_message = _l("Not found.")


class Forbidden(ServiceError):
    code = "forbidden"
    status = 403
    default_message = _l("You are not allowed to do this.")


class Unauthorized(ServiceError):
    code = "unauthorized"
    status = 401
    default_message = _l("Please log in.")


class Conflict(ServiceError):
    code = "conflict"
    status = 409
    default_message = _l("This action conflicts with the current state.")


class InvalidTransition(Conflict):
    code = "invalid_transition"


class ConfirmationRequired(Conflict):
    code = "confirm_required"
    default_message = _l("Please confirm this action.")


class StaleVersion(Conflict):
    code = "stale_version"
    default_message = _l("This question was changed on another screen. Your screen has been refreshed; please check and try again.")


class QuestionsClosed(Conflict):
    code = "questions_closed"
    default_message = _l("This broadcast is not accepting questions now.")
