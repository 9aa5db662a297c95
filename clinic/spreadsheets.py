"""CSV for spreadsheets: text that a spreadsheet would run as a formula is made plain text."""

# A spreadsheet runs a cell that starts like a formula ("CSV injection"); a leading quote makes it text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(text: str) -> str:
    """`text` as a CSV cell that no spreadsheet evaluates."""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text
