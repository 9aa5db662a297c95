"""Production refuses a secret too short for its use, of too little variety to be random, or given for two
uses at once, with every other refusal: naming the setting and how to make a good value, never the value."""

import secrets
from urllib.parse import quote

import hypothesis
import pytest
from cryptography.fernet import Fernet
from hypothesis import strategies as st

import config
from clinic import create_app
from clinic.production import problems

from .conftest import PRODUCTION_SETTINGS, production_config
from .conftest import production_refusals as refusals

MAKE_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
GOOD = {
    "JITSI_APP_SECRET": "jitsi-jwt-shared-secret-of-the-hospital-server",
    "WEBHOOK_SECRET": "webhook-hmac-shared-secret-of-the-hospital-service",
    "READYZ_TOKEN": "readyz-token-for-the-monitoring-system-only",
}


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"SECRET_KEY": "a" * 32}, "CLINIC_SECRET_KEY has only 1 different character"),
        ({"SECRET_KEY": "ab" * 24}, "CLINIC_SECRET_KEY has only 2 different characters"),
        ({"SECRET_KEY": "0123456789abcdef" * 3}, "CLINIC_SECRET_KEY is a short piece repeated"),
        ({"AUDIT_KEY": "x" * 40}, "CLINIC_AUDIT_KEY has only 1 different character"),
        ({"MANAGE_TOKEN_KEY": f"{GOOD['READYZ_TOKEN']},{'m' * 40}"}, "key 2 of CLINIC_MANAGE_TOKEN_KEY has"),
        ({"SECRET_KEY_FALLBACKS": ["s" * 40]}, "key 1 of CLINIC_SECRET_KEY_FALLBACKS has only 1"),
        ({"AUDIT_KEY_FALLBACKS": ["f" * 31]}, "key 1 of CLINIC_AUDIT_KEY_FALLBACKS is 31 bytes long"),
        ({"NOTES_KEY": "A" * 43 + "="}, "key 1 of CLINIC_NOTES_KEY has only 2 different characters"),
        ({"JITSI_APP_ID": "clinic", "JITSI_APP_SECRET": "x"}, "CLINIC_JITSI_APP_SECRET is 1 byte long"),
        ({"WEBHOOK_SECRET": "hospital-webhook"}, "CLINIC_WEBHOOK_SECRET is 16 bytes long"),
        ({"READYZ_TOKEN": "monitor"}, "CLINIC_READYZ_TOKEN is 7 bytes long"),
        ({"ZOOM_CLIENT_SECRET": "xxxxxxxxxxxxxxxxxxxxxxxx"}, "CLINIC_ZOOM_CLIENT_SECRET has only 1"),
        (
            {"MANAGE_TOKEN_KEY": PRODUCTION_SETTINGS["SECRET_KEY"]},
            "CLINIC_SECRET_KEY and CLINIC_MANAGE_TOKEN_KEY hold the same value",
        ),
        (
            {"SECRET_KEY_FALLBACKS": [PRODUCTION_SETTINGS["AUDIT_KEY"]]},
            "CLINIC_SECRET_KEY_FALLBACKS and CLINIC_AUDIT_KEY hold the same value",
        ),
        (
            {"JITSI_APP_ID": "clinic", "JITSI_APP_SECRET": PRODUCTION_SETTINGS["MANAGE_TOKEN_KEY"]},
            "CLINIC_MANAGE_TOKEN_KEY and CLINIC_JITSI_APP_SECRET hold the same value",
        ),
        (
            {"SMTP_PASSWORD": PRODUCTION_SETTINGS["AUDIT_KEY"]},
            "CLINIC_AUDIT_KEY and CLINIC_SMTP_PASSWORD hold the same value",
        ),
    ],
)
def test_production_refuses_a_weak_or_reused_secret_by_name_saying_how_to_make_one(
    production, database_url, settings, said
):
    """A secret key of 32 × "a", a Jitsi JWT secret "x", a manage-link key equal to the secret key all
    started."""
    found = refusals(database_url, **settings)

    assert len(found) == 1 and found[0].startswith(said), found
    assert any(
        advice in found[0] for advice in ("make one with", "a value of its own", "as it issued it", "remove")
    )


def test_a_reused_value_names_both_settings_and_how_to_make_each_a_value_of_its_own(production, database_url):
    """The audit key copied into the secret key's fallbacks was named as CLINIC_AUDIT_KEY's fault, with only
    the audit key's advice: the one to change is whichever it was copied into."""
    (found,) = refusals(database_url, SECRET_KEY_FALLBACKS=[PRODUCTION_SETTINGS["AUDIT_KEY"]])

    assert "replace it in the one it was copied into" in found
    assert "CLINIC_SECRET_KEY_FALLBACKS: list only former values of CLINIC_SECRET_KEY" in found
    assert "CLINIC_AUDIT_KEY: set a random value" in found and "audit chain" in found


DATABASE = "postgresql+psycopg://clinic:{}@db.hospital.example/clinic"
REDIS = "redis://:{}@redis.hospital.example:6379/0"


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        (
            {"SQLALCHEMY_DATABASE_URI": DATABASE.format(quote(PRODUCTION_SETTINGS["AUDIT_KEY"], safe=""))},
            "CLINIC_AUDIT_KEY and the password in CLINIC_DATABASE_URL hold the same value",
        ),
        (
            {"RATELIMIT_STORAGE_URL": REDIS.format(PRODUCTION_SETTINGS["SECRET_KEY"])},
            "CLINIC_SECRET_KEY and the password in CLINIC_RATELIMIT_STORAGE_URL hold the same value",
        ),
        (
            {
                "SQLALCHEMY_DATABASE_URI": DATABASE.format("pa%40ss-shared-by-the-database-and-redis"),
                "RATELIMIT_STORAGE_URL": REDIS.format("pa%40ss-shared-by-the-database-and-redis"),
            },
            "The password in CLINIC_DATABASE_URL and the password in CLINIC_RATELIMIT_STORAGE_URL hold",
        ),
    ],
)
def test_a_password_in_the_database_or_redis_url_is_no_other_secrets_value(settings, said):
    """The database's password and Redis's were never compared with the secrets: the audit key reused as
    the database role's password passed."""
    found = production_problems(settings)

    assert len(found) == 1 and found[0].startswith(said), found
    shown = "\n".join(found)
    assert all(
        secret not in shown
        for secret in ("pa%40ss", "pa@ss", *(PRODUCTION_SETTINGS[key] for key in ("SECRET_KEY", "AUDIT_KEY")))
    )


def test_urls_without_a_password_share_nothing(production, database_url):
    assert production_problems({"RATELIMIT_STORAGE_URL": "redis://redis.hospital.example:6379/0"}) == []


@pytest.mark.parametrize(
    ("key", "fallbacks"), [("SECRET_KEY", "SECRET_KEY_FALLBACKS"), ("AUDIT_KEY", "AUDIT_KEY_FALLBACKS")]
)
@pytest.mark.parametrize("weak", [False, True])
def test_a_fallback_is_told_to_hold_former_keys_never_to_take_a_new_random_one(
    production, database_url, key, fallbacks, weak
):
    """A fallback was told "set a random value", as its key is; but a fallback only keeps valid what its
    former key signed, so a value made up for it keeps nothing: what it may hold is the old key, or none."""
    copied = "w" * 40 if weak else PRODUCTION_SETTINGS["MANAGE_TOKEN_KEY"]
    (found,) = refusals(database_url, **{fallbacks: [copied]})

    assert f"list only former values of CLINIC_{key}, " in found, found
    told_to_make_one = "set a random value" if weak else f"CLINIC_{fallbacks}: set a random value"
    assert told_to_make_one not in found, found


def test_our_own_secrets_are_told_the_command_that_makes_a_good_one(production, database_url):
    found = refusals(database_url, SECRET_KEY="a" * 32, NOTES_KEY="A" * 43 + "=")

    assert MAKE_KEY in found[0]
    assert "Fernet.generate_key()" in found[1]


def test_a_former_key_kept_beside_the_one_in_use_is_no_reuse(production, database_url):
    """While a key is rotated, the same key may sit in a setting and its fallbacks: one use."""
    key, audit_key = PRODUCTION_SETTINGS["SECRET_KEY"], PRODUCTION_SETTINGS["AUDIT_KEY"]

    assert create_app(
        production_config(
            database_url,
            SECRET_KEY_FALLBACKS=[key],
            AUDIT_KEY_FALLBACKS=[audit_key],
            MANAGE_TOKEN_KEY=f"{PRODUCTION_SETTINGS['MANAGE_TOKEN_KEY']},{PRODUCTION_SETTINGS['MANAGE_TOKEN_KEY']}",
        )
    )


def test_secrets_made_as_the_docs_say_are_taken(production, database_url):
    """Random values, however made, show enough variety: token_urlsafe's, token_hex's, Fernet's."""
    for _ in range(50):
        made = {
            "SECRET_KEY": secrets.token_urlsafe(48),
            "SECRET_KEY_FALLBACKS": [secrets.token_hex(16)],
            "MANAGE_TOKEN_KEY": secrets.token_urlsafe(32),
            "AUDIT_KEY": secrets.token_hex(32),
            "NOTES_KEY": Fernet.generate_key().decode(),
            "JITSI_APP_ID": "clinic",
            "JITSI_APP_SECRET": secrets.token_urlsafe(48),
        }
        assert production_problems(made) == []


def test_every_weak_secret_is_named_at_once_with_the_other_refusals(production, database_url):
    found = refusals(
        database_url,
        SECRET_KEY="a" * 32,
        JITSI_APP_ID="clinic",
        JITSI_APP_SECRET="x",
        MANAGE_TOKEN_KEY=PRODUCTION_SETTINGS["AUDIT_KEY"],
        MAIL_BACKEND="file",
    )

    named = ["CLINIC_SECRET_KEY", "CLINIC_JITSI_APP_SECRET", "CLINIC_MANAGE_TOKEN_KEY", "CLINIC_MAIL_BACKEND"]
    assert [problem.split(" ")[0] for problem in found] == named


def production_problems(settings: dict) -> list[str]:
    """Production's refusals of these settings over clean ones, read by their kinds as at the start."""
    given = {**config.defaults(), **PRODUCTION_SETTINGS, **settings}
    assert config.check(given, "production") == []
    return problems(given)


SECRET_TEXT = st.text(min_size=12).filter(lambda text: len(text.strip()) >= 12 and "," not in text)
# Every secret production checks but the notes keys, which their kind reads as Fernet keys first.
SECRET_SETTINGS = [
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "MANAGE_TOKEN_KEY",
    "AUDIT_KEY",
    "AUDIT_KEY_FALLBACKS",
    "JITSI_APP_SECRET",
    "WEBHOOK_SECRET",
    "READYZ_TOKEN",
    "TEAMS_CLIENT_SECRET",
    "ZOOM_CLIENT_SECRET",
    "SMTP_PASSWORD",
]


def _same_shape_alphabets() -> list[list[str]]:
    """For each UTF-8 length, the characters of that length a secret's checks treat alike: all but
    whitespace (a value is stripped) and the comma (it parts listed keys)."""
    alphabets: list[list[str]] = [[], [], [], []]
    for point in range(0x10000):
        char = chr(point)
        if not (0xD800 <= point <= 0xDFFF or char.isspace() or char == ","):
            alphabets[len(char.encode()) - 1].append(char)
    return alphabets


SAME_SHAPE = _same_shape_alphabets()


def stand_in(value: str) -> str:
    """Another secret of the same shape as `value`: every character but whitespace moved a fixed step
    along the characters of its UTF-8 length, so the length in bytes, the different characters, any
    repeated piece and any reuse stay as they were, and no character stays itself."""

    def moved(char: str) -> str:
        if char.isspace() or char == ",":
            return char
        if ord(char) > 0xFFFF:  # four bytes: none is whitespace
            return chr(0x10000 + (ord(char) - 0x10000 + 0x8001) % 0x100000)
        alphabet = SAME_SHAPE[len(char.encode()) - 1]
        return alphabet[(alphabet.index(char) + len(alphabet) // 2) % len(alphabet)]

    return "".join(moved(char) for char in value)


@hypothesis.settings(max_examples=300)
@hypothesis.given(
    setting=st.sampled_from(SECRET_SETTINGS),
    value=SECRET_TEXT,
    reused=st.booleans(),
)
@hypothesis.example(setting="AUDIT_KEY", value="CLINIC_AUDIT", reused=False)  # CI's falsifying example
def test_a_secret_is_never_repeated_in_a_refusal(setting, value, reused):
    """Whatever a secret holds, weak or strong, reused or not, its refusals are those of any other secret of
    its shape: they say its length, variety, repetition or reuse, never what it holds. (Asking only that
    the value is not found in them fails a value that is a piece of their own words, "CLINIC_AUDIT".)"""
    # A value the settings already hold, or the development default, is refused for being that: named
    # in test_production_refuses_a_weak_or_reused_secret_by_name_saying_how_to_make_one.
    hypothesis.assume(value not in {*PRODUCTION_SETTINGS.values(), config.DEFAULT_SECRET_KEY})

    def refused(secret: str) -> list[str]:
        settings = {setting: [secret] if setting.endswith("FALLBACKS") else secret}
        if reused:  # the same value for a second use too
            settings["AUDIT_KEY" if setting != "AUDIT_KEY" else "MANAGE_TOKEN_KEY"] = secret
        return production_problems(settings)

    other = stand_in(value)
    assert other.strip() != value.strip()
    assert refused(value) == refused(other)
