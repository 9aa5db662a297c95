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
const [hash, page] = [process.argv[2], process.argv[3]];
const seen = {address: null, code: null, submitted: false};
const code = {value: ""}, opening = {hidden: true}, field = {hidden: false}, listeners = {};
const form = {hidden: false, elements: {code}, submit() { seen.submitted = true; seen.code = code.value; }};
if (page === "fill") form.dataset = {linkForm: "fill"};
const document = {
  addEventListener(name, listener) { listeners[name] = listener; },
  querySelector(selector) {
    const found = {"form[data-link-form]": page === "room" ? null : form, "[data-link-opening]": opening};
    return {...found, "[data-link-field]": field}[selector];
  },
};
const window = {
  location: {pathname: "/c/K7F-3QZ9", search: "", hash},
  history: {replaceState(state, title, address) { seen.address = address; }},
};
vm.runInNewContext(fs.readFileSync(process.argv[4], "utf8"), {window, document});
if (listeners.DOMContentLoaded) listeners.DOMContentLoaded();
seen.opening = !opening.hidden;
if (page === "fill") seen.code = code.value;
if (page === "fill") Object.assign(seen, {field_hidden: field.hidden, form_hidden: form.hidden});
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


def test_a_form_with_more_to_fill_in_gets_the_token_and_hides_only_the_links_field(tmp_path):
    seen = run(tmp_path, "#t=WzEsImFiYyJd.sig-_x", "fill")

    assert seen == {
        "address": "/c/K7F-3QZ9",
        "code": "WzEsImFiYyJd.sig-_x",
        "submitted": False,
        "opening": False,
        "field_hidden": True,
        "form_hidden": False,
    }
