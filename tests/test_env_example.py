"""docs/systemd/clinic.env.example reads alike as systemd's EnvironmentFile= reads it (for the services) and
as bash sources it (`set -a && . clinic.env && set +a`, for the one-off commands of docs/operations.md)."""

import re
import subprocess
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "systemd" / "clinic.env.example"
ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)")


def systemd_environment(text: str) -> dict[str, str]:
    """The variables of an environment file as systemd reads it (systemd.exec(5), EnvironmentFile=), for
    one-line values: blank lines and those starting with # or ; are ignored; a value in double quotes
    loses them, and a backslash there keeps the next of "\\`$ (nothing is expanded); one in single quotes
    is taken verbatim; an unquoted one keeps its inner spaces and quotes, a backslash keeps the next
    character, and spaces around it are dropped."""
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        name, value = ASSIGNMENT.fullmatch(line).groups()
        if value[:1] == "'":
            assert value.endswith("'") and "'" not in value[1:-1], line
            found[name] = value[1:-1]
        elif value[:1] == '"':
            quoted = re.fullmatch(r'"((?:[^"\\]|\\.)*)"', value)
            assert quoted, line
            found[name] = re.sub(r'\\([\\"`$])', r"\1", quoted.group(1))
        else:
            found[name] = re.sub(r"\\(.)", r"\1", value).strip()
    return found


def bash_environment(path: Path) -> tuple[dict[str, str], str]:
    """The CLINIC_* variables after `set -a && . path && set +a` in a clean bash, and what bash said."""
    sourced = subprocess.run(
        ["bash", "-c", 'set -a && . "$1" && set +a && env -0', "bash", str(path)],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    pairs = (entry.partition("=") for entry in sourced.stdout.split("\0") if entry.startswith("CLINIC_"))
    return {name: value for name, _, value in pairs}, sourced.stderr + f"(exit {sourced.returncode})"


def test_the_example_environment_file_sources_in_bash_as_systemd_reads_it():
    text = EXAMPLE.read_text()

    by_systemd = systemd_environment(text)
    by_bash, said = bash_environment(EXAMPLE)

    assert said == "(exit 0)"
    assert by_bash == by_systemd
    assert by_systemd["CLINIC_HOSPITAL_NAME"] == "St Example University Hospital"
    assert by_systemd["CLINIC_MAIL_FROM"] == "Clinic <appointments@hospital.example>"
    assert len(by_systemd) == text.count("\nCLINIC_")  # every assignment read


def test_the_reading_of_systemd_here_is_the_one_its_manual_gives():
    text = "\n".join(
        [
            "# a comment",
            "; another",
            'A="St Mary\'s <x@y>"',
            "B='pa$s\"word'",
            r'C="a\$b\"c\\d"',
            r"D=plain\ text ",
            "E=",
        ]
    )

    assert systemd_environment(text) == {
        "A": "St Mary's <x@y>",
        "B": 'pa$s"word',
        "C": 'a$b"c\\d',
        "D": "plain text",
        "E": "",
    }
