"""Development-only pages: the mails the file backend wrote, at /dev/mail.

Registered only for the file mail backend outside production, so the pages (which show patients'
addresses) never exist where real mail goes out.
"""

from flask import Blueprint, Response, abort, current_app, render_template, request

from .notify.mail import mail_folder
from .notify.mailbox import calendar_method, mail_page, raw_mail, stored_mail

bp = Blueprint("dev", __name__, url_prefix="/dev")


def wanted(config: dict) -> bool:
    return config["MAIL_BACKEND"] == "file" and (config.get("DEBUG") or config.get("TESTING"))


@bp.get("/mail")
def mail_list():
    # A page number that is not one shows the first page; one past the last shows the last.
    to = request.args.get("to", "").strip()[:320]
    folder = mail_folder(current_app.instance_path)
    page = mail_page(folder, to=to, number=request.args.get("page", 1, type=int))
    return render_template("dev/mail_list.html", page=page, to=to, folder=folder)


@bp.get("/mail/<name>")
def mail_view(name: str):
    message = stored_mail(mail_folder(current_app.instance_path), name) or abort(404)
    text = message.get_body(("plain",))
    invite = message.get_body(("calendar",))
    return render_template(
        "dev/mail_view.html",
        name=name,
        message=message,
        text=text.get_content() if text is not None else "",
        invite=invite.get_content() if invite is not None else None,
        method=calendar_method(message),
    )


@bp.get("/mail/<name>/raw")
def mail_raw(name: str):
    content = raw_mail(mail_folder(current_app.instance_path), name) or abort(404)
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(content, mimetype="message/rfc822", headers=headers)
