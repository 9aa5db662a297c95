"""Text no column can hold: NUL (PostgreSQL refuses it in text) and unpaired surrogates (not UTF-8).

Refused before any view reads the request, so no parser has to remember them: in the address, the
query string or a form it is a 400 (no person types a NUL); a JSON body is checked by api.schemas,
which names each field.
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
    """A NUL or an unpaired surrogate in the address, the query string or a form."""

    description = f"The address or the form holds a character that no field accepts. {MESSAGE}"


def register(app: Flask) -> None:
    @app.before_request
    def refuse_unstorable_text() -> None:
        sent = [request.path]
        # Without a Content-Type (every GET) there is no form to parse: reading request.form would only
        # set up werkzeug's parser to find it empty.
        sources = (request.args, request.form) if request.want_form_data_parsed else (request.args,)
        for source in sources:
            for key, value in source.items(multi=True):
                sent += (key, value)
        if any(_UNSTORABLE.search(text) for text in sent):
            raise UnstorableText()
