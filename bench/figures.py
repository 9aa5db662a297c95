"""One JSON line per measured figure, beside the human tables: what the README and closing notes record.

Each line carries its baseline, measured in the same run and interleaved with the figure, because
absolute times on these machines are noisy and ratios are what we track (DESIGN.md, Performance targets).
"""

import json
import math
import os
import sys


def emit(
    bench: str,
    figure: str,
    value: float,
    baseline: float | None,
    unit: str,
    target_ratio: float | None,
) -> None:
    """Print one figure as a JSON line on stdout, with the machine's load average beside it."""
    line = {
        "bench": bench,
        "figure": figure,
        "value": _number(value),
        "baseline": _number(baseline),
        "unit": unit,
        "target_ratio": target_ratio,
        "load_average": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(line), file=sys.stdout, flush=True)


def _number(value: float | None) -> float | None:
    """Rounded, or null for a figure not measured here (NaN, which JSON lacks)."""
    return None if value is None or math.isnan(value) else round(value, 6)
