"""wsgi:app as the end-to-end suite serves it, noting the name of each template it renders, a line each,
in the file E2E_TEMPLATE_NOTES names: the accessibility audit then knows which pages it reached."""

import os
from pathlib import Path

from flask import template_rendered

from wsgi import app

NOTES = Path(os.environ["E2E_TEMPLATE_NOTES"])


def _note(sender, template, context, **extra) -> None:
    # One short write in append mode: lines from gunicorn's workers never interleave.
    with NOTES.open("a") as notes:
        notes.write(f"{template.name}\n")


template_rendered.connect(_note, app)
