"""static/password_link.js, run by node against the parts of the page it touches: it takes the token of
an admin's password link out of the address and into the form's link field, which it hides."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "clinic" / "static" / "password_link.js"

PAGE = """
const fs = require("fs"), vm = require("vm");
const seen = {address: null};
const link = {value: ""}, wrapper = {hidden: false}, listeners = {};
const document = {
  addEventListener(name, listener) { listeners[name] = listener; },
  getElementById(id) { return id === "link" ? link : null; },
  querySelector(selector) { return selector === "[data-password-link-field]" ? wrapper : null; },
};
const window = {
  location: {pathname: "/account/password-link", search: "", hash: process.argv[2]},
  history: {replaceState(state, title, address) { seen.address = address; }},
};
vm.runInNewContext(fs.readFileSync(process.argv[3], "utf8"), {window, document});
if (listeners.DOMContentLoaded) listeners.DOMContentLoaded();
Object.assign(seen, {link: link.value, hidden: wrapper.hidden});
console.log(JSON.stringify(seen));
"""

node = shutil.which("node")
pytestmark = pytest.mark.skipif(node is None, reason="node is not installed")


def run(tmp_path, hash: str) -> dict:
    harness = tmp_path / "page.js"
    harness.write_text(PAGE)
    result = subprocess.run(
        [node, str(harness), hash, str(SCRIPT)], capture_output=True, text=True, timeout=30, check=True
    )
    return json.loads(result.stdout)


def test_the_token_leaves_the_address_and_fills_the_hidden_link_field(tmp_path):
    seen = run(tmp_path, "#t=WzEsImFiYyJd.sig-_x")

    assert seen == {"address": "/account/password-link", "link": "WzEsImFiYyJd.sig-_x", "hidden": True}


@pytest.mark.parametrize("hash", ["", "#main", "#tt=x"])
def test_without_a_token_the_field_stays_for_pasting_the_link(tmp_path, hash):
    assert run(tmp_path, hash) == {"address": None, "link": "", "hidden": False}
