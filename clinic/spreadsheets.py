"""CSV for spreadsheets: text that a spreadsheet would run as a formula is made plain text, and the file
says it is UTF-8."""

import csv
import io
from collections.abc import Iterable

# A spreadsheet runs a cell that starts like a formula ("CSV injection"); a leading quote makes it text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Excel reads a CSV file without a byte-order mark in the computer's legacy code page (Windows-1252 in
# much of Europe), so "Zoë" shows as "ZoÃ«"; with the mark it reads UTF-8. Other spreadsheets skip it.
BYTE_ORDER_MARK = "\ufeff"


def inert(text: str) -> str:
    """`text` as a CSV cell that no spreadsheet evaluates."""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def csv_text(rows: Iterable[Iterable[str]]) -> str:
    """`rows` as a CSV file that spreadsheets open as UTF-8 (cells made inert by the caller)."""
    buffer = io.StringIO()
    buffer.write(BYTE_ORDER_MARK)
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()
