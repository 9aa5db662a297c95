"""What the outbox keeps of a failure, and what the log says of it: never the recipient's address, which
an SMTP server's reply may echo (clinic/jobs/failures.py)."""

import smtplib

import hypothesis
from hypothesis import strategies as st

from clinic.jobs.failures import logged_error, recorded_error
from clinic.meetings import ProviderUnavailable
from clinic.notify.mail import MailPartiallyRefused, _mail_error

# How servers quote the address they refuse.
QUOTED = st.sampled_from(["<{}>", "{}", '"{}"', "'{}'", "{}:", "({})", "[{}]", "to={},"])


@hypothesis.settings(max_examples=300)
@hypothesis.given(
    address=st.emails(),
    quoted=QUOTED,
    code=st.integers(400, 599),
    before=st.text(st.characters(categories=["L", "N", "Zs"]), max_size=30),
    after=st.text(st.characters(categories=["L", "N", "Zs"]), max_size=30),
)
def test_a_refusal_is_kept_with_its_code_and_words_but_never_the_address(
    address, quoted, code, before, after
):
    reply = f"{before} {quoted.format(address)} {after}".encode()
    refused = _mail_error(smtplib.SMTPRecipientsRefused({address: (code, reply)}))
    partly = MailPartiallyRefused({address: (code, reply)})

    for error in (refused, partly):
        kept, logged = recorded_error(error), logged_error(error)

        assert address not in kept and address.rsplit("@", 1)[0] + "@" not in kept
        assert kept.startswith(f"{type(error).__name__}: {code} ")
        assert logged == f"{type(error).__name__} {code}"


def test_a_reply_of_several_lines_is_kept_on_one_and_cut_to_fit():
    reply = b"5.1.1 The email account that you tried to reach does not exist.\n" + b"Please try again. " * 30
    kept = recorded_error(_mail_error(smtplib.SMTPDataError(550, reply)))

    assert kept.startswith("MailPermanentError: 550 5.1.1 The email account that you tried to reach does not")
    assert "\n" not in kept and len(kept) == 300 and kept.endswith("…")


def test_a_provider_failure_is_kept_with_its_status_not_its_message():
    error = ProviderUnavailable(
        "POST https://api.zoom.us/v2/users/dr.lee@hospital.example failed", status=503
    )

    assert (recorded_error(error), logged_error(error)) == (
        "ProviderUnavailable: HTTP 503",
        "ProviderUnavailable 503",
    )


def test_a_failure_of_another_kind_is_kept_by_its_kind_alone():
    error = ValueError("patient Ada Lovelace, ada@example.org")

    assert (recorded_error(error), logged_error(error)) == ("ValueError", "ValueError")
