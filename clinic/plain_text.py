"""Characters that never belong in a name or any other one-line text shown to people: one home for
the rule that input refuses them and that mails and invites strip them.

C0 and C1 controls can break a header or an invite line; the bidirectional marks, embeddings,
overrides and isolates (U+200E/F, U+061C, U+202A–U+202E, U+2066–U+2069) make text display in
another order than it is stored, which can disguise a name or a link.

Besides, text folded for matching and for file names: lower case without accents (`folded`).
"""

import re
import unicodedata

HIDDEN = re.compile("[\\x00-\\x1f\\x7f-\\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Line breaks as office programs copy them: Word and PowerPoint a line break within a paragraph as a
# vertical tab, Word a page break as a form feed. Text over many lines takes each as a line break.
OFFICE_BREAKS = "\x0b\x0c"


def has_hidden(text: str) -> bool:
    """Whether `text` holds a control or bidirectional formatting character."""
    return HIDDEN.search(text) is not None


def without_hidden(text: str) -> str:
    """`text` with every control and bidirectional formatting character removed."""
    return HIDDEN.sub("", text)


# Letters and symbols to Unicode that draw nothing: the Hangul fillers and the blank braille pattern.
_DRAWN_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Categories that draw nothing by themselves: formatting (zero-width spaces and joiners, the byte-order
# mark, a soft hyphen), controls, separators, and marks with no letter to sit on.
_UNDRAWN = frozenset({"Cf", "Cc", "Zs", "Zl", "Zp", "Mn", "Me"})


def shows_nothing(text: str) -> bool:
    """Whether `text` shows nothing when drawn: a name of zero-width spaces reads as no name at all."""
    return all(c in _DRAWN_BLANK or unicodedata.category(c) in _UNDRAWN for c in text)


def folded(text: str) -> str:
    """Lower case without accents: "sao paulo" finds São Paulo, and Cardiología is cardiologia."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
