"""The staff sign-in forms. (Sign-out and "sign out everywhere else" are bare POSTs: CSRFProtect
checks their token.)"""

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    email = EmailField(
        "E-mail address",
        validators=[
            DataRequired("Enter your e-mail address."),
            Length(max=254, message="Keep it under 254 characters."),
        ],
        render_kw={"autocomplete": "username", "spellcheck": "false"},
    )
    password = PasswordField(
        "Password",
        validators=[
            DataRequired("Enter your password."),
            Length(max=1024, message="Keep it under 1024 characters."),
        ],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


class CodeForm(FlaskForm):
    """A code from an authenticator app (six digits), or a recovery code at sign-in."""

    code = StringField(
        "Code",
        validators=[DataRequired("Enter the code."), Length(max=32, message="Enter the code as shown.")],
        render_kw={"autocomplete": "one-time-code", "spellcheck": "false", "autocapitalize": "off"},
    )


class ReplaceFactorForm(CodeForm):
    """Setting up a new authenticator app when one is set up already: a code from the old one too."""

    current_code = StringField(
        "Code from your current app (or a recovery code)",
        validators=[
            DataRequired("Enter a code from the app you use now."),
            Length(max=32, message="Keep it under 32 characters."),
        ],
        render_kw={"autocomplete": "one-time-code", "spellcheck": "false", "autocapitalize": "off"},
    )


class NewPasswordForm(FlaskForm):
    """A new password, typed twice."""

    new_password = PasswordField(
        "New password",
        validators=[
            DataRequired("Enter a new password."),
            Length(max=1024, message="Keep it under 1024 characters."),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "New password again",
        validators=[EqualTo("new_password", "The two new passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


class PasswordLinkForm(NewPasswordForm):
    """A new password with the admin's link: open_link.js fills in the link's token; without
    JavaScript the staff member pastes the link."""

    code = StringField(
        "Your link",
        validators=[
            DataRequired("Paste the link your admin gave you."),
            Length(max=2000, message="Keep it under 2000 characters."),
        ],
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"},
    )

    def token(self) -> str:
        """The token in what was entered: the whole link, or the token alone."""
        _, found, token = self.code.data.partition("#t=")
        return (token if found else self.code.data).strip()


class ChangePasswordForm(NewPasswordForm):
    """A new password for the signed-in staff member: every session, this one too, ends with it."""

    current_password = PasswordField(
        "Current password",
        validators=[
            DataRequired("Enter your current password."),
            Length(max=1024, message="Keep it under 1024 characters."),
        ],
        render_kw={"autocomplete": "current-password"},
    )
