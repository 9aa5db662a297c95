"""The effective configuration at /admin/settings, secrets redacted, with a test of the video provider
and of the mail server; each test is a POST that shows its outcome on the page."""

from flask import current_app, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..auth.access import current_staff
from ..effective_settings import effective_settings
from ..extensions import db
from ..hospital.connection_checks import MailCheck, Organiser, ProviderCheck, check_mail, check_provider
from ..models import utcnow
from .settings_forms import MailCheckForm, ProviderCheckForm
from .views import bp


@bp.get("/settings")
def settings() -> ResponseReturnValue:
    return _settings_page()


@bp.post("/settings/test-provider")
def test_provider() -> ResponseReturnValue:
    form = ProviderCheckForm()
    if not form.validate():
        return _settings_page(provider_form=form), 422
    organiser = Organiser(current_user.display_name, current_user.email)
    result = check_provider(
        db.session,
        form.provider.data,
        current_app.config,
        now=utcnow(),
        actor=current_staff().actor,
        organiser=organiser,
    )
    return _settings_page(provider_form=form, provider_check=result)


@bp.post("/settings/test-mail")
def test_mail() -> ResponseReturnValue:
    form = MailCheckForm()
    if not form.validate():
        return _settings_page(mail_form=form), 422
    result = check_mail(
        db.session,
        form.to.data.strip(),
        current_app.config,
        current_app.instance_path,
        now=utcnow(),
        actor=current_staff().actor,
    )
    return _settings_page(mail_form=form, mail_check=result)


def _settings_page(
    *,
    provider_form: ProviderCheckForm | None = None,
    mail_form: MailCheckForm | None = None,
    provider_check: ProviderCheck | None = None,
    mail_check: MailCheck | None = None,
) -> str:
    return render_template(
        "admin/settings.html",
        settings=effective_settings(current_app.config),
        provider_form=provider_form or ProviderCheckForm(formdata=None),
        mail_form=mail_form or MailCheckForm(formdata=None),
        provider_check=provider_check,
        mail_check=mail_check,
    )
