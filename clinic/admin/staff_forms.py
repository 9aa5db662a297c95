"""The staff account pages' forms: the list filter, a new account, its name and address, a role and its
link."""

from flask_wtf import FlaskForm
from wtforms import EmailField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from ..models import Clinician, Department, StaffRole
from ..staff.accounts import MAX_NAME
from .catalogue_forms import RowForm, VersionField
from .forms import LISTED_ONLY, PageField

ROLE_LABELS = {StaffRole.CLINICIAN: "Clinician", StaffRole.RECEPTION: "Reception", StaffRole.ADMIN: "Admin"}
EVERY = ""


def _optional_id(value: object) -> int | None:
    """A select's id, or None for the empty choice. Anything else becomes 0, which no row has, so the
    field says "not in the list" (a ValueError here would give WTForms' own "could not coerce")."""
    if value is None or isinstance(value, int):
        return value
    return (
        int(value) if value.isascii() and value.isdigit() and len(value) <= 10 else None if value == "" else 0
    )


class StaffFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter: links and bookmarks work

    role = SelectField(
        "Role",
        choices=[SelectChoice(EVERY, "Every role")]
        + [SelectChoice(r.value, label) for r, label in ROLE_LABELS.items()],
        default=EVERY,
        **LISTED_ONLY,
    )
    status = SelectField(
        "Accounts",
        choices=[
            SelectChoice(EVERY, "Active and deactivated"),
            SelectChoice("active", "Active"),
            SelectChoice("inactive", "Deactivated"),
        ],
        default=EVERY,
        **LISTED_ONLY,
    )
    page = PageField(default=1)

    def chosen_role(self) -> StaffRole | None:
        return None if self.role.errors or self.role.data == EVERY else StaffRole(self.role.data)

    def chosen_active(self) -> bool | None:
        return None if self.status.errors or self.status.data == EVERY else self.status.data == "active"


class RoleForm(FlaskForm):
    """A role, and what it is linked to: a clinician login to its clinician, reception to a department."""

    role = SelectField(
        "Role",
        choices=[SelectChoice(r.value, label) for r, label in ROLE_LABELS.items()],
        **LISTED_ONLY,
    )
    clinician = SelectField("Clinician (for a clinician login)", coerce=_optional_id, **LISTED_ONLY)
    department = SelectField("Department (for a reception login)", coerce=_optional_id, **LISTED_ONLY)
    drawn = VersionField()  # an account's: the role's version its page was drawn at (none for a new one)

    def __init__(self, clinicians: list[Clinician], departments: list[Department], *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clinician.choices = [SelectChoice("", "None")] + [
            SelectChoice(c.id, c.display_name) for c in clinicians
        ]
        self.department.choices = [SelectChoice("", "None")] + [
            SelectChoice(d.id, d.name) for d in departments
        ]

    def role_and_link(self) -> dict:
        """The role and link as the account services take them."""
        return {
            "role": StaffRole(self.role.data),
            "clinician_id": self.clinician.data,
            "department_id": self.department.data,
        }


def _email_field() -> EmailField:
    return EmailField(
        "E-mail address",
        validators=[
            DataRequired("Enter their e-mail address."),
            Length(max=254, message="Keep it under 254 characters."),
        ],
        render_kw={"spellcheck": "false", "autocomplete": "off"},
    )


def _name_field() -> StringField:
    return StringField(
        "Name",
        validators=[
            DataRequired("Enter their name."),
            Length(max=MAX_NAME, message=f"Keep it under {MAX_NAME} characters."),
        ],
        render_kw={"autocomplete": "off"},
    )


class NewStaffForm(RoleForm):
    email = _email_field()
    display_name = _name_field()


class StaffDetailsForm(RowForm):
    """An account's name and address, as its page drew them (`drawn`, its version)."""

    display_name = _name_field()
    email = _email_field()

    def details(self) -> dict:
        return {"display_name": self.display_name.data or "", "email": self.email.data or ""}
