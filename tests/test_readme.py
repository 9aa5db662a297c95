"""The README documents every setting config.py reads, and what it links to is there."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_lists_every_clinic_setting():
    # Every reader in config.py (_env, and _int, _flag, _one_of, _read … by kind) names its variable first.
    names = set(re.findall(r'_[a-z_]+\(\s*"([A-Z0-9_]+)"', (ROOT / "config.py").read_text()))
    readme = (ROOT / "README.md").read_text()
    missing = sorted(n for n in names if f"`CLINIC_{n}`" not in readme)
    assert names and not missing, f"README lacks: {missing}"


def test_every_picture_and_page_the_readme_links_to_is_there():
    readme = (ROOT / "README.md").read_text()
    linked = re.findall(r"\]\(((?:docs)/[^)]+)\)", readme)
    assert linked and all((ROOT / path).is_file() for path in linked), linked


def test_the_readme_names_every_clinic_command_and_no_other(app):
    """The README's commands are `flask --app wsgi clinic …` as the CLI has them, groups with theirs."""
    group = app.cli.commands["clinic"]
    commands = {
        f"{name} {sub}" if hasattr(command, "commands") else name
        for name, command in group.commands.items()
        for sub in getattr(command, "commands", [None])
    }
    readme = (ROOT / "README.md").read_text()
    named = {
        f"{first} {second}" if hasattr(group.commands.get(first), "commands") else first
        for first, second in re.findall(r"flask --app wsgi clinic ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", readme)
    }

    assert named == commands
