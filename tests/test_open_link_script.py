"""static/open_link.js, run by node against the few parts of a page it touches: it takes a link's token
out of the address and posts it with the room's form, and does nothing else."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "clinic" / "static" / "open_link.js"

# The page as the script sees it: the address, the history, and the form (or the room, with none).
PAGE = """
const fs = require("fs"), vm = require("vm");
const [hash, withForm] = [process.argv[2], process.argv[3] === "form"];
const seen = {address: null, code: null, submitted: false};
const code = {value: ""}, opening = {hidden: true}, listeners = {};
const form = {hidden: false, elements: {code}, submit() { seen.submitted = true; seen.code = code.value; }};
const document = {
  addEventListener(name, listener) { listeners[name] = listener; },
  querySelector(selector) {
    return {"form[data-link-form]": withForm ? form : null, "[data-link-opening]": opening}[selector];
  },
};
const window = {
  location: {pathname: "/c/K7F-3QZ9", search: "", hash},
  history: {replaceState(state, title, address) { seen.address = address; }},
};
vm.runInNewContext(fs.readFileSync(process.argv[4], "utf8"), {window, document});
if (listeners.DOMContentLoaded) listeners.DOMContentLoaded();
seen.opening = !opening.hidden;
console.log(JSON.stringify(seen));
"""

node = shutil.which("node")
pytestmark = pytest.mark.skipif(node is None, reason="node is not installed")


def run(tmp_path, hash: str, page: str) -> dict:
    harness = tmp_path / "page.js"
    harness.write_text(PAGE)
    command = [node, str(harness), hash, page, str(SCRIPT)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    return json.loads(result.stdout)


def test_a_token_after_the_hash_leaves_the_address_and_is_posted_with_the_form(tmp_path):
    seen = run(tmp_path, "#t=Tok_en-123", "form")

    assert seen == {"address": "/c/K7F-3QZ9", "code": "Tok_en-123", "submitted": True, "opening": True}


def test_in_the_room_itself_the_token_only_leaves_the_address(tmp_path):
    seen = run(tmp_path, "#t=Tok_en-123", "room")

    assert seen == {"address": "/c/K7F-3QZ9", "code": None, "submitted": False, "opening": False}


@pytest.mark.parametrize("hash", ["", "#content", "#tt=x"])
def test_without_a_token_the_page_is_left_for_the_visitor(tmp_path, hash):
    seen = run(tmp_path, hash, "form")

    assert seen == {"address": None, "code": None, "submitted": False, "opening": False}
