"""The systemd units of docs/systemd, as docs/operations.md installs them."""

from pathlib import Path

import pytest

from clinic.health import REFUSED_TO_START

UNITS = Path(__file__).resolve().parent.parent / "docs" / "systemd"


@pytest.mark.parametrize("unit", ["clinic-web.service", "clinic-worker.service"])
def test_a_service_that_refuses_to_start_is_not_restarted_every_few_seconds(unit):
    """A refusal (status 4: settings refused, a schema to upgrade) would only be said again at each restart,
    every RestartSec=5 s; any other failure is restarted."""
    service = unit_settings((UNITS / unit).read_text())["Service"]

    assert service["Restart"] in {"on-failure", "always"}
    assert service["RestartPreventExitStatus"] == str(REFUSED_TO_START)


def unit_settings(text: str) -> dict[str, dict[str, str]]:
    """A systemd unit file's settings by section (systemd.syntax(7)); comments and blank lines left out."""
    sections: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = sections.setdefault(line[1:-1], {})
        elif line and not line.startswith(("#", ";")):
            name, _, value = line.partition("=")
            section[name.strip()] = value.strip()
    return sections
