"""Flask-WTF forms (CSRF included)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms.fields.choices import SelectChoice
from wtforms import BooleanField, DateTimeLocalField, PasswordField, SelectField, StringField, URLField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ..services.fields import UNSTORABLE_MESSAGE, Limit, storable

ROLE_CHOICES = [SelectChoice("moderator", _l("Moderator")), SelectChoice("speaker", _l("Speaker")),
                SelectChoice("officer", _l("Appeals officer")),
                SelectChoice("head", _l("Head of the office or deputy (decides extensions)")),
                SelectChoice("operator", _l("Phone operator")),
                SelectChoice("admin", _l("Administrator"))]


def _storable(_form, field) -> None:
    """Refuse text no column can hold (fields.storable): NUL and other control characters, lone surrogates, bidi overrides."""
    if isinstance(field.data, str) and not storable(field.data):
        raise ValidationError(UNSTORABLE_MESSAGE)


class Form(FlaskForm):
    """A form whose hidden CSRF field has no id: a page with several forms would repeat `id="csrf_token"`."""

    class Meta:
        def render_field(self, field, render_kw):
            if field.type == "CSRFTokenField":
                render_kw = {"id": False, **render_kw}
            return super().render_field(field, render_kw)


class LoginForm(Form):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=Limit.USERNAME), _storable])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=Limit.PASSWORD)])


class BroadcastForm(Form):
    slug = StringField(_l("Address (slug)"), validators=[Optional(), Length(max=Limit.SLUG), _storable])
    title_kk = StringField(_l("Title in Kazakh"), validators=[Length(max=Limit.TITLE), _storable])
    title_ru = StringField(_l("Title in Russian"), validators=[Length(max=Limit.TITLE), _storable])
    title_en = StringField(_l("Title in English"), validators=[Length(max=Limit.TITLE), _storable])
    starts_at = DateTimeLocalField(_l("Date and time"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    stream_url = URLField(_l("Stream embed address (https://...)"), validators=[Optional(), Length(max=Limit.STREAM_URL), _storable])
    pre_moderation = BooleanField(_l("Pre-moderation: questions wait for approval"), default=True)
    public_feed = BooleanField(_l("Public feed: viewers see approved questions"), default=True)
    anonymous_allowed = BooleanField(_l("Anonymous questions allowed"), default=True)
    questions_open = BooleanField(_l("Questions open"), default=True)
    show_asker = BooleanField(_l("Show on screens the names and districts of askers who agreed"), default=True)


class UserForm(Form):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=Limit.USERNAME), _storable])
    display_name = StringField(_l("Full name"), validators=[Optional(), Length(max=Limit.DISPLAY_NAME), _storable])
    position = StringField(_l("Position (printed on the talon of a call this person takes)"),
                           validators=[Optional(), Length(max=Limit.POSITION), _storable])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)


class UserRoleForm(Form):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    position = StringField(_l("Position"), validators=[Optional(), Length(max=Limit.POSITION), _storable])
    department_id = SelectField(_l("Department"), choices=[], validate_choice=False)
    active = BooleanField(_l("Active"))

    def with_departments(self, departments, locale: str) -> "UserRoleForm":
        """Offer the departments (for appeals officers)."""
        self.department_id.choices = [("", "—")] + [(str(d.id), d.name(locale)) for d in departments]
        return self


class ApiKeyForm(Form):
    name = StringField(_l("Integrator (who will use the key)"), validators=[DataRequired(), Length(max=Limit.API_KEY_NAME), _storable])


class EmptyForm(Form):
    """A form with only the CSRF token, for POST buttons."""
