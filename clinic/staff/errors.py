"""What the staff services refuse, as types: the views map each to a message and a status."""


class AccountError(Exception):
    """A staff account request that cannot be done as asked."""


class InvalidAccount(AccountError):
    """Details that fail the account rules; `errors` maps each field name to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class NoSuchAccount(AccountError):
    """No staff account has that e-mail address (or id)."""

    def __init__(self, message: str = "There is no staff account with that e-mail address.") -> None:
        super().__init__(message)


class LastAdmin(AccountError):
    """The change would leave the hospital without an active admin, and nobody to undo it."""

    def __init__(self) -> None:
        super().__init__(
            "This is the only active admin account: make someone else an admin first, so that one is left."
        )


class RoleChangedMeanwhile(AccountError):
    """A role saved from a page drawn before someone else's change of it: saving it would undo theirs."""

    def __init__(self) -> None:
        super().__init__(
            "Another admin changed this account's role since you opened this page: it shows the role as "
            "saved now. Nothing changed: check it and save again."
        )


class OwnSecondFactor(AccountError):
    """An admin removing their own second factor: whoever held their session could then set up theirs."""

    def __init__(self) -> None:
        super().__init__(
            "You cannot remove your own second factor here. To move it to a new phone or app, use your "
            "account page with a code from your current app or one of your recovery codes. If you have "
            "neither, ask another admin to remove it."
        )


class LoginRefused(AccountError):
    """One answer for an unknown address, a wrong password, an inactive or a locked account."""

    def __init__(self, lock_minutes: int) -> None:
        super().__init__(
            "The e-mail address or password is wrong, or the account is locked after too many "
            f"attempts. Try again in {lock_minutes} minutes or ask an admin."
        )


class CodeRefused(AccountError):
    """A second-factor code that is wrong, was used already, or has expired."""

    message = "That code is wrong or was used already. Enter the code your app shows now."

    def __init__(self, field: str = "code") -> None:
        super().__init__(self.message)
        self.field = field  # "current_code" when replacing a factor: the old app's code was wrong


class SecondFactorUnreadable(CodeRefused):
    """The account's TOTP secret opens under no configured key: its app's codes cannot be checked."""

    message = (
        "Codes from your authenticator app cannot be checked since the server's keys changed. "
        "Enter one of your recovery codes, or ask an admin to reset your second factor."
    )


class FactorChangeLocked(CodeRefused):
    """The account is locked after too many wrong codes or passwords: no second factor is replaced then."""

    def __init__(self, lock_minutes: int) -> None:
        self.message = (
            "Your account is locked after too many wrong codes or passwords, so your authenticator app "
            f"cannot be replaced now. Try again in {lock_minutes} minutes or ask an admin."
        )
        super().__init__("current_code")


class AddressThrottled(AccountError):
    """Too many failed sign-ins from one address: refused before any account is looked at."""

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, -(-retry_after // 60))
        super().__init__(
            f"Too many failed sign-ins from your network. Try again in {minutes} minute"
            f"{'' if minutes == 1 else 's'}."
        )
        self.retry_after = retry_after
