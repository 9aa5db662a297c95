"""CSV for spreadsheets: text that a spreadsheet would run as a formula is made plain text, and the file
says it is UTF-8."""

import csv
import io
import unicodedata
from collections.abc import Iterable

# A spreadsheet runs a cell that starts like a formula ("CSV injection"), also after blanks that it strips
# first; a leading quote makes the cell text. A cell starting with a tab or a line break is quoted too
# (OWASP's advice): some importers drop or split on them.
_FORMULA_STARTS = ("=", "+", "-", "@")
_CONTROL_STARTS = ("\t", "\r", "\n")
# Excel reads a CSV file without a byte-order mark in the computer's legacy code page (Windows-1252 in
# much of Europe), so "Zoë" shows as "ZoÃ«"; with the mark it reads UTF-8. Other spreadsheets skip it.
BYTE_ORDER_MARK = "\ufeff"


def inert(text: str) -> str:
    """`text` as a CSV cell that no spreadsheet evaluates, also when blanks hide the formula's start
    (" =HYPERLINK(…)": Google Sheets and LibreOffice strip leading white space before they look)."""
    risky = text.startswith(_CONTROL_STARTS) or _unblanked(text).startswith(_FORMULA_STARTS)
    return f"'{text}" if risky else text


def _unblanked(text: str) -> str:
    """`text` without its leading white space and invisible format characters (zero-width space, …)."""
    start = 0
    while start < len(text) and (text[start].isspace() or unicodedata.category(text[start]) == "Cf"):
        start += 1
    return text[start:]


def csv_text(rows: Iterable[Iterable[str]]) -> str:
    """`rows` as a CSV file that spreadsheets open as UTF-8 (cells made inert by the caller)."""
    buffer = io.StringIO()
    buffer.write(BYTE_ORDER_MARK)
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()
