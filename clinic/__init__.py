"""Clinic: telehealth consultation scheduling for hospitals."""

import logging
import os
import tempfile
from collections.abc import Collection, Mapping
from typing import Any

from flask import Config, Flask
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

import config as settings

from . import links, logs, production
from .audit.handovers import lost_key_warnings, unconfigured_head_key
from .audit.settings import AuditSettings
from .audit.settings import configure as configure_audit
from .extensions import csrf, db, login_manager, migrate
from .json_responses import JsonResponses
from .models.connections import replace_closed_connections
from .models.schema_revision import SchemaBehind, schema_check
from .models.transactions import (
    configure_postgresql,
    configure_sqlite,
    driver_reason,
    read_without_transaction,
    stop_reading,
)
from .session_cookie import SignedCookieSessions

log = logging.getLogger(__name__)


def create_app(config: str | type | dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults from config.py, then the instance config.py, then `config`.

    `config` is a config name ("testing"), a class, or a mapping of overrides.
    """
    app = Flask(__name__, instance_path=settings.instance_path(), instance_relative_config=True)
    links.init_app(app)
    app.session_interface = SignedCookieSessions()
    app.json = JsonResponses(app)
    name = config if isinstance(config, str) else settings.config_name()
    from_file = _load_settings(app, name, config)
    _refuse_bad_settings(app, name, {key for key in from_file if app.config[key] is from_file[key]})
    logs.init_app(app)  # first, so every later before_request function logs with the request id
    _warn_of_settings(app, from_file)

    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = _engine_options(app.config)
    db.init_app(app)
    app.before_request(_read_without_transaction)  # before any other function that reads
    app.teardown_request(_stop_reading)
    migrate.init_app(app, db, directory=settings.MIGRATIONS_DIR, render_as_batch=True)
    login_manager.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine, lock_wait=app.config["DATABASE_LOCK_WAIT"])
        else:
            configure_postgresql(db.engine)
            replace_closed_connections(db.engine)
        audit_settings = AuditSettings.from_config(app.config, app.instance_path)
        configure_audit(db.engine, audit_settings)
        _refuse_a_chain_it_cannot_sign_on(app, audit_settings)

    from . import (
        admin,
        api,
        auth,
        booking,
        cli,
        dev,
        errors,
        health,
        limits,
        notes,
        schedule,
        security,
        unstorable,
    )

    app.register_blueprint(health.bp)
    app.register_blueprint(booking.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(schedule.bp)
    app.register_blueprint(schedule.desk_bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(notes.bp)
    notes.init_app(app)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # bearer tokens and JSON bodies, no cookies
    if dev.wanted(app.config):
        app.register_blueprint(dev.bp)
    limits.init_app(app)
    errors.register(app)
    auth.access.audit_refusals(app)
    security.register(app)
    unstorable.register(app)
    # Last of the checks before a view: a form it refuses is drawn again (errors.drawn_again_when_expired),
    # so it is counted by the limits and its text tidied (unstorable) first.
    csrf.init_app(app)
    cli.register(app)
    return app


def _refuse_a_chain_it_cannot_sign_on(app: Flask, audit_settings: AuditSettings) -> None:
    """Production refuses to start, and development warns, where the audit chain's latest event is signed
    by a key not configured (CLINIC_AUDIT_KEY changed, the former key not among the fallbacks) nor declared
    lost: every audited change would be refused (`audit.UnconfiguredHeadKey`). Key ids declared lost are
    warned of: the head's (handed over at the next append), or one ignored. Web processes, the worker and
    every CLI command start here. A database that does not answer, or is not migrated yet (`flask db upgrade`
    starts here too), is left to the check at each append, and the log says which."""
    if app.testing:
        return
    try:
        with db.engine.connect() as connection:
            schema_check(app).require_current(connection)
            refused = unconfigured_head_key(connection, audit_settings)
            lost = lost_key_warnings(connection, audit_settings) if audit_settings.lost_key_ids else []
    except (SchemaBehind, SQLAlchemyError) as error:
        log.info("the audit chain's key was not checked at start: %s", _why_unchecked(error))
        return
    for warning in lost if app.config["START_WARNINGS"] else ():
        log.warning("%s", warning)
    if refused is None:
        return
    if app.debug:
        log.warning("%s; every audited change will be refused", refused)
        return
    raise production.UnsafeProductionConfig([str(refused)])


def _why_unchecked(error: SchemaBehind | SQLAlchemyError) -> str:
    """What kept the database from being read, and what to do: a schema to upgrade (its words say what to
    run), or the driver's words, without a secret, as /readyz gives them. "OperationalError" told neither."""
    if isinstance(error, SchemaBehind):
        return str(error)
    said = (
        driver_reason(error, db.engine.url.password)
        if isinstance(error, DBAPIError)
        else type(error).__name__
    )
    return f"the database does not answer ({said}); it is checked at each audited change instead"


def _read_without_transaction() -> None:
    read_without_transaction(db.session)


def _stop_reading(error: BaseException | None) -> None:
    # Here, not only at Flask-SQLAlchemy's removal of the session at the app context's end: a test's app
    # context outlives its requests, and its session with them.
    stop_reading(db.session, failed=error is not None)


def _engine_options(config: Config) -> dict[str, Any]:
    """The engine's options, with PostgreSQL's timeouts, each unless the URL gives its own: a database
    gone from the network, or a lock held past DATABASE_LOCK_WAIT, is then answered 503 before gunicorn
    kills the worker waiting for it.

    A connection whose host went silent is ended by the kernel: what was sent and is still unacknowledged
    after DATABASE_NETWORK_TIMEOUT (`tcp_user_timeout`; Linux's own retries last about 15 minutes), and
    while only waiting for an answer, keepalive probes from half that time on, one a second, which the
    same timeout ends unanswered. A sound connection acknowledges them, however long its statement runs."""
    options = dict(config["SQLALCHEMY_ENGINE_OPTIONS"])
    url = make_url(config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "postgresql":
        return options
    lock_wait_ms = round(config["DATABASE_LOCK_WAIT"] * 1000)
    silence = config["DATABASE_NETWORK_TIMEOUT"]
    ours = {
        "connect_timeout": config["DATABASE_CONNECT_TIMEOUT"],
        "options": f"-c lock_timeout={lock_wait_ms}",
        "tcp_user_timeout": silence * 1000,
        "keepalives": 1,
        "keepalives_idle": max(1, silence // 2),
        "keepalives_interval": 1,
    }
    defaults = {name: value for name, value in ours.items() if name not in url.query}
    options["connect_args"] = {**defaults, **options.get("connect_args", {})}
    return options


def _load_settings(app: Flask, name: str, config: str | type | dict[str, Any] | None) -> dict[str, Any]:
    """Defaults and the environment's settings (config.py), then the instance config.py's, then `config`'s;
    the instance config.py's settings, for what is said of them."""
    app.config.from_object(settings.configs.get(name, settings.Config))  # an unknown name is refused below
    from_file = Config(app.instance_path)
    from_file.from_pyfile("config.py", silent=True)
    app.config.update(from_file)
    if isinstance(config, type):
        app.config.from_object(config)
    elif isinstance(config, dict):
        app.config.update(config)
    return dict(from_file)


def _warn_of_settings(app: Flask, from_file: Mapping[str, Any]) -> None:
    """Name each CLINIC_* variable, and each key of the instance config.py, that no setting reads (a
    misspelt or renamed one would otherwise be ignored without a word); and in production, each choice
    that weakens it. Once for a gunicorn: its start check says them, its workers not (START_WARNINGS)."""
    if app.testing or not app.config["START_WARNINGS"]:
        return
    path = _instance_config_path(app)
    unknown = settings.unknown_instance_settings(from_file, app.default_config)
    for name, meant in unknown.items():
        maybe = f" (did you mean {meant}?)" if meant else ""
        log.warning("%s in %s is not a setting Clinic reads%s; ignored", name, path, maybe)
    if app.debug:
        return
    for name in settings.unknown_settings(os.environ):
        log.warning("%s is not a setting Clinic reads (misspelt, or renamed: see the README); ignored", name)
    for warning in production.warnings(app.config):
        log.warning("%s", warning)


def _instance_config_path(app: Flask) -> str:
    return os.path.join(app.instance_path, "config.py")


def _instance_folder_refusals(path: str) -> list[str]:
    """Make the instance folder (SQLite's database, mail files, the audit anchor) if it is not there; why
    this process cannot, or cannot write in it, as a refusal to start rather than a traceback."""
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as failed:
        reason = failed.strerror or type(failed).__name__
        could_not = "create" if not os.path.isdir(path) else "write in"
        return [f"CLINIC_INSTANCE_PATH names {path!r}, a folder this process cannot {could_not} ({reason})"]
    return []


def _refuse_bad_settings(app: Flask, environment: str, from_file: Collection[str]) -> None:
    """Every setting read by its kind, wherever it was set (normalised in place), and the instance folder
    made; with production's own refusals of every setting its kind took, all named in one message, which
    says of the settings `from_file` that the instance config.py set them."""
    refused = settings.refusals(app.config, environment)
    found = [*refused.values(), *_instance_folder_refusals(app.instance_path)]
    unsafe = [] if app.debug or app.testing or "ENV" in refused else production.problems(app.config, refused)
    path = _instance_config_path(app)
    if unsafe:
        raise production.UnsafeProductionConfig(settings.where_given(found + unsafe, from_file, path))
    if found:
        raise settings.InvalidSettings(settings.where_given(found, from_file, path))
