"""The office's structure: departments, categories (routed to a default department) and officers."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from ..extensions import db
from ..models import Category, Department, User
from .audit import audit
from ..errors import NotFound, ValidationError
from .language import NAME_FIELDS
from .fields import UNSTORABLE_MESSAGE, Limit, at_most_characters, parse_id, storable

MAX_KEYWORDS = 200


def _names(values: dict, limit: int) -> dict:
    names, errors = {}, {}
    for key in NAME_FIELDS:
        value = (values.get(key) or "").strip()
        if not storable(value):
            errors[key] = UNSTORABLE_MESSAGE
        elif not value:
            errors[key] = _l("This field is required.")
        elif len(value) > limit:
            errors[key] = at_most_characters(limit)
        names[key] = value
    if errors:
        raise ValidationError(fields=errors)
    return names


def save_department(values: dict, department_id=None, *, actor: User | None) -> Department:
    """Create or rename a department (names in Kazakh, Russian and English); `active` hides it from choices."""
    names = _names(values, Limit.DEPARTMENT_NAME)
    department = (db.session.get(Department, parse_id(department_id)) if parse_id(department_id) else None) \
        if department_id else Department()
    if department is None:
        raise NotFound()
    for key, value in names.items():
        setattr(department, key, value)
    department.active = values.get("active", "1") in ("1", "on", True)
    db.session.add(department)
    db.session.flush()
    audit(actor, "department_saved", department=department.id)
    db.session.commit()
    return department


def save_category(values: dict, category_id=None, *, actor: User | None) -> Category:
    """Create or change a category and the department its appeals go to by default."""
    names = _names(values, Limit.CATEGORY_NAME)
    department_id = values.get("department_id") or None
    if department_id is not None:
        department_id = parse_id(department_id)
        if department_id is None or db.session.get(Department, department_id) is None:
            raise ValidationError(fields={"department_id": _l("This department does not exist.")})
    category = (db.session.get(Category, parse_id(category_id)) if parse_id(category_id) else None) \
        if category_id else Category()
    if category is None:
        raise NotFound()
    for key, value in names.items():
        setattr(category, key, value)
    category.department_id = department_id or None  # parsed above
    if "keywords" in values:
        words = [line.strip()[:Limit.CATEGORY_KEYWORD] for line in str(values.get("keywords") or "").splitlines() if line.strip()]
        if not all(storable(word) for word in words):
            raise ValidationError(fields={"keywords": UNSTORABLE_MESSAGE})
        if len(words) > MAX_KEYWORDS:
            raise ValidationError(fields={"keywords": ngettext("At most %(num)s keyword.",
                                                               "At most %(num)s keywords.", MAX_KEYWORDS)})
        category.keywords = "\n".join(words)
    db.session.add(category)
    db.session.flush()
    audit(actor, "category_saved", category=category.id, department=category.department_id)
    db.session.commit()
    return category
