"""Text no column can hold: NUL (PostgreSQL refuses it in text) and unpaired surrogates (not UTF-8).

Dealt with before any view reads the request, so no parser has to remember them. In the address or
the query string it is a 400 (nobody types there). In a form it is taken out: a NUL is pasted in with
text from another program, and nobody sees or means one, so a form is never thrown away for it (a
form's surrogates never arrive: Werkzeug decodes what is not UTF-8 as U+FFFD). A JSON body is checked
by api.schemas, which names each field.
"""

import re
from collections.abc import Iterator

from flask import Flask, request
from werkzeug.exceptions import BadRequest

MESSAGE = "Text must not contain NUL or unpaired surrogates."
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_fields(document: object) -> Iterator[str]:
    """The dotted names of every string in a decoded JSON document that no column can hold.

    A loop, not recursion: a document the json module could nest nearly to the recursion limit.
    """
    pending: list[tuple[str, object]] = [("", document)]
    while pending:
        name, value = pending.pop()
        if isinstance(value, str) and _UNSTORABLE.search(value):
            yield name
        elif isinstance(value, dict | list):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            pending += [(f"{name}.{key}" if name else str(key), item) for key, item in items]


class UnstorableText(BadRequest):
    """A NUL or an unpaired surrogate in the address or the query string."""

    description = f"The address holds a character that no field accepts. {MESSAGE}"


def register(app: Flask) -> None:
    @app.before_request
    def keep_text_storable() -> None:
        sent = [request.path]
        for key, value in request.args.items(multi=True):
            sent += (key, value)
        if any(_UNSTORABLE.search(text) for text in sent):
            raise UnstorableText()
        # Without a Content-Type (every GET) there is no form to parse: reading request.form would only
        # set up werkzeug's parser to find it empty.
        if request.want_form_data_parsed:
            fields = request.form.items(multi=True)
            if any(_UNSTORABLE.search(key) or _UNSTORABLE.search(value) for key, value in fields):
                request.form = request.parameter_storage_class(
                    (_UNSTORABLE.sub("", key), _UNSTORABLE.sub("", value))
                    for key, value in request.form.items(multi=True)
                )
