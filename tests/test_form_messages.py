"""No page shows WTForms' own wording ('Invalid Choice: could not coerce.', 'Not a valid date value.',
'Field cannot be longer than 120 characters.'): every field of every form class in clinic/ that can refuse
a value says so in the project's words, and every validator with a message is given one."""

import importlib
import inspect
import pkgutil

from wtforms import Form
from wtforms.fields.core import UnboundField
from wtforms.meta import DefaultMeta

import clinic


def form_classes() -> list[type[Form]]:
    """Every form class defined in clinic/, found by importing each of its modules."""
    for module in pkgutil.walk_packages(clinic.__path__, "clinic."):
        importlib.import_module(module.name)
    found, todo = [], [Form]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("clinic."):
                found.append(sub)
    return found


def own_wording_missing(form: type[Form]) -> list[str]:
    """The fields of `form` (as `Class.field`) that would let a message of WTForms' own through."""
    missing = []
    for name in dir(form):
        unbound = getattr(form, name, None)
        if not isinstance(unbound, UnboundField):
            continue
        field = unbound.bind(form=None, name=name, _meta=DefaultMeta())
        where = f"{form.__module__}.{form.__name__}.{name}"
        kind = type(field)
        if _says_on_its_own(kind.process_formdata, "invalid_value_message"):
            if field.invalid_value_message is None:
                missing.append(f"{where}: invalid_value_message")
        if hasattr(field, "invalid_choice_message") and getattr(field, "validate_choice", True):
            if field.invalid_choice_message is None and _says_on_its_own(kind.pre_validate, "invalid_choice"):
                missing.append(f"{where}: invalid_choice_message")
        for validator in field.validators:
            if hasattr(validator, "message") and validator.message is None:
                missing.append(f"{where}: {type(validator).__name__} message")
    return missing


def _says_on_its_own(method, message: str) -> bool:
    """Whether `method` is WTForms' own and words a refusal with `message` or its default."""
    return method.__module__.startswith("wtforms") and message in inspect.getsource(method)


def test_every_form_field_refuses_a_value_in_the_projects_words():
    forms = form_classes()

    assert len(forms) > 20, "too few forms found to say anything"
    assert [gap for form in forms for gap in own_wording_missing(form)] == []
