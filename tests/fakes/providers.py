"""Microsoft Graph, Zoom, a hospital webhook and a Jitsi Meet server's external_api.js, imitated by one real
HTTP server on 127.0.0.1.

The server keeps meetings in memory, records every request, and fails on demand (`fail_next`,
`stall_next`, `drip_next`, `expire_tokens`, `fail_at_random`), so adapters are tested over real sockets
without mocks. Import the fixtures by name: `from tests.fakes.providers import fake_providers,
provider_settings`; outside pytest, `with serving() as fake:` runs the same server.
"""

import base64
import itertools
import json
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from random import Random
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import config
from clinic.meetings.webhook import verify_signature

TENANT_ID = "tenant-0001"
ORGANIZER_ID = "organizer-object-id"
CLIENT_ID = "clinic-app"
# A secret for each provider, as production takes them: none reused, the webhook's 32 bytes or more.
TEAMS_CLIENT_SECRET = "teams-client-secret-value"
ZOOM_CLIENT_SECRET = "zoom-client-secret-value"
ZOOM_ACCOUNT_ID = "zoom-account"
WEBHOOK_SECRET = "webhook-shared-secret-of-the-fake-service"
# The start of what a Jitsi Meet server serves as external_api.js, the script a page embedding a call loads.
JITSI_SCRIPT = b'!function(e,t){"object"==typeof exports?module.exports=t():e.JitsiMeetExternalAPI=t()}(this,'
# Planted in every test consultation; no request to a provider may contain them.
PATIENT_NAME = "Philippa Patientname"
REASON = "recurring chest pain"


def make_consultation(**changes: Any) -> SimpleNamespace:
    """A stand-in for `clinic.models.Consultation`: what adapters may read, and what they must not send."""
    starts_at = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    values = {
        "uuid": str(uuid.uuid4()),
        "reference": secrets.token_hex(3).upper(),
        "starts_at": starts_at,
        "ends_at": starts_at + timedelta(minutes=30),
        "clinician_id": 7,
        "clinician": SimpleNamespace(email="dr.jones@hospital.example", display_name="Dr Alex Jones"),
        "patient": SimpleNamespace(name=PATIENT_NAME, email="philippa@example.org"),
        "reason": REASON,
        "meetings_replaced": 0,
    }
    return SimpleNamespace(**(values | changes))


def settings_for(base_url: str) -> dict[str, Any]:
    """App settings that point every provider at `base_url`, with short timeouts."""
    return {
        "PROVIDER_CONNECT_TIMEOUT": 1.0,
        "PROVIDER_READ_TIMEOUT": 1.5,  # over a slow answer on a busy machine (stalls are longer)
        "TEAMS_TENANT_ID": TENANT_ID,
        "TEAMS_CLIENT_ID": CLIENT_ID,
        "TEAMS_CLIENT_SECRET": TEAMS_CLIENT_SECRET,
        "TEAMS_ORGANIZER_ID": ORGANIZER_ID,
        "TEAMS_AUTHORITY_URL": f"{base_url}/login",
        "GRAPH_BASE_URL": f"{base_url}/graph/v1.0",
        "ZOOM_ACCOUNT_ID": ZOOM_ACCOUNT_ID,
        "ZOOM_CLIENT_ID": CLIENT_ID,
        "ZOOM_CLIENT_SECRET": ZOOM_CLIENT_SECRET,
        "ZOOM_OAUTH_URL": f"{base_url}/zoom/oauth/token",
        "ZOOM_API_BASE_URL": f"{base_url}/zoom/v2",
        "WEBHOOK_URL": f"{base_url}/webhook",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
    }


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    drip: float = 0.0  # seconds between the bytes of the answer's body (`drip_next`)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Fault:
    remaining: int
    path_contains: str
    status: int | None = None  # None: answer normally, after the delay
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip: float = 0.0


@dataclass(frozen=True)
class LiveMeeting:
    """A meeting the provider still holds: its id, its title and its start as the provider stores it."""

    external_id: str
    subject: str
    starts_at: str


@dataclass
class _RandomFaults:
    rate: float
    rng: Random
    stall: float
    retry_after: str

    def draw(self) -> tuple[str, _Fault] | None:
        if self.rng.random() >= self.rate:
            return None
        match self.rng.choice(("500", "429", "timeout")):
            case "500":
                return "500", _Fault(0, "", 500)
            case "429":
                return "429", _Fault(0, "", 429, {"Retry-After": self.retry_after})
            case _:
                return "timeout", _Fault(0, "", delay=self.stall)


class FakeProviders:
    """The providers' state, shared by the server's handler threads."""

    def __init__(self) -> None:
        self.url = ""
        self.received: list[Received] = []
        self.token_lifetime = 3599
        self.graph_meetings: dict[str, dict[str, Any]] = {}
        self.zoom_meetings: dict[str, dict[str, Any]] = {}
        self.webhook_meetings: dict[str, dict[str, Any]] = {}
        self._zoom_ids = itertools.count(81234567890)  # never reused, as Zoom's are not
        self._webhook_ids = itertools.count(1)
        self.webhook_keyed_by = "key"  # "consultation": an endpoint written before the `key` field
        self.webhook_answers_with: dict[str, Any] = {}  # what a faulty endpoint puts in its answers instead
        self._tokens: set[str] = set()
        self._faults: list[_Fault] = []
        self._random: _RandomFaults | None = None
        self.injected: Counter[str] = Counter()
        self.jitsi_script = JITSI_SCRIPT  # what GET /jitsi/external_api.js answers: another server's page?
        self._lock = threading.Lock()

    def settings(self) -> dict[str, Any]:
        """App settings that point every provider at this server."""
        return settings_for(self.url)

    def fail_next(
        self, count: int, status: int, *, path_contains: str = "", retry_after: str | None = None
    ) -> None:
        """Answer the next `count` requests whose path contains `path_contains` with `status`."""
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        with self._lock:
            self._faults.append(_Fault(count, path_contains, status, headers))

    def stall_next(self, count: int, seconds: float, *, path_contains: str = "") -> None:
        """Wait `seconds` before answering the next `count` matching requests."""
        with self._lock:
            self._faults.append(_Fault(count, path_contains, delay=seconds))

    def drip_next(self, count: int, every: float, *, path_contains: str = "") -> None:
        """Answer the next `count` matching requests at once, then send the body one byte every `every`
        seconds: each read is quick, the whole answer is not (a struggling provider or proxy)."""
        with self._lock:
            self._faults.append(_Fault(count, path_contains, drip=every))

    def fail_at_random(self, rate: float, *, seed: int, stall: float, retry_after: str = "1") -> None:
        """From now on fail each request with probability `rate`, after any `fail_next` faults: a 500,
        a 429 with `retry_after`, or a normal answer held back `stall` seconds, longer than the client
        waits, so the work is done but its response lost. Counts go to `injected` by kind."""
        with self._lock:
            self._random = _RandomFaults(rate, Random(seed), stall, retry_after)

    def live_meetings(self, provider: str) -> list[LiveMeeting]:
        """The meetings `provider` ("teams", "zoom" or "webhook") holds now, cancelled ones gone."""
        with self._lock:
            if provider == "teams":
                meetings = self.graph_meetings.values()
                return [LiveMeeting(m["id"], m["subject"], m["startDateTime"]) for m in meetings]
            if provider == "zoom":
                meetings = self.zoom_meetings.values()
                return [LiveMeeting(str(m["id"]), m["topic"], m["start_time"]) for m in meetings]
            if provider == "webhook":
                meetings = self.webhook_meetings.values()
                return [LiveMeeting(m["external_id"], m["subject"], m["starts_at"]) for m in meetings]
        raise ValueError(f"the fake keeps no meetings for {provider!r}")

    def expire_tokens(self) -> None:
        """Make every access token issued so far invalid, as when it expires early or is revoked."""
        with self._lock:
            self._tokens.clear()

    def requests_to(self, path_contains: str) -> list[Received]:
        return [r for r in self.received if path_contains in r.path]

    def everything_received(self) -> str:
        """Every path, query and body received, as one string to search."""
        return "\n".join(f"{r.path}?{r.query}\n{r.body.decode(errors='replace')}" for r in self.received)

    def handle(self, request: Received) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.received.append(request)
            fault = next((f for f in self._faults if f.remaining and f.path_contains in request.path), None)
            if fault:
                fault.remaining -= 1
            elif self._random and (drawn := self._random.draw()):
                kind, fault = drawn
                self.injected[kind] += 1
        if fault and fault.delay:
            time.sleep(fault.delay)
        request.drip = fault.drip if fault else 0.0
        if fault and fault.status:
            return fault.status, fault.headers, {"error": {"code": "injected", "message": "injected failure"}}
        with self._lock:
            return self._route(request)

    def _route(self, r: Received) -> tuple[int, dict[str, str], Any]:
        parts = r.path.strip("/").split("/")
        match r.method, parts:
            case "POST", ["login", tenant, "oauth2", "v2.0", "token"]:
                return self._graph_token(tenant, parse_qs(r.body.decode()))
            case "POST", ["zoom", "oauth", "token"]:
                return self._zoom_token(r)
            case "POST", ["webhook"]:
                return self._webhook(r)
            case "GET", ["jitsi", "external_api.js"]:
                return 200, {"Content-Type": "application/javascript"}, self.jitsi_script
        if r.headers.get("authorization", "").removeprefix("Bearer ") not in self._tokens:
            return 401, {}, {"error": {"code": "InvalidAuthenticationToken", "message": "token expired"}}
        match r.method, parts:
            case "POST", ["graph", "v1.0", "users", _, "onlineMeetings", "createOrGet"]:
                return self._graph_create_or_get(r.json())
            case ("PATCH" | "DELETE") as method, ["graph", "v1.0", "users", _, "onlineMeetings", meeting_id]:
                times = ("startDateTime", "endDateTime")
                return self._change(self.graph_meetings, method, meeting_id, r, times)
            case "POST", ["zoom", "v2", "users", _, "meetings"]:
                return self._zoom_create(r.json())
            case "GET", ["zoom", "v2", "users", _, "meetings"]:
                return self._zoom_list(r.query)
            case "GET", ["zoom", "v2", "meetings", meeting_id] if meeting_id in self.zoom_meetings:
                # Like Zoom: the host's start_url carries a ZAK issued now, valid two hours from now.
                start_url = f"https://zoom.example/s/{meeting_id}?zak={secrets.token_urlsafe(8)}"
                return 200, {}, self.zoom_meetings[meeting_id] | {"start_url": start_url}
            case ("PATCH" | "DELETE") as method, ["zoom", "v2", "meetings", meeting_id]:
                return self._change(self.zoom_meetings, method, meeting_id, r, ())
        return 404, {}, {"error": {"code": "NotFound", "message": r.path}}

    def _issue_token(self) -> dict[str, Any]:
        token = secrets.token_urlsafe(16)
        self._tokens.add(token)
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}

    def _graph_token(self, tenant: str, form: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        expected = {
            "grant_type": ["client_credentials"],
            "client_id": [CLIENT_ID],
            "client_secret": [TEAMS_CLIENT_SECRET],
            "scope": ["https://graph.microsoft.com/.default"],
        }
        if tenant != TENANT_ID or form != expected:
            return 401, {}, {"error": "invalid_client"}
        return 200, {}, self._issue_token()

    def _zoom_token(self, r: Received) -> tuple[int, dict[str, str], Any]:
        basic = base64.b64encode(f"{CLIENT_ID}:{ZOOM_CLIENT_SECRET}".encode()).decode()
        query = {"grant_type": ["account_credentials"], "account_id": [ZOOM_ACCOUNT_ID]}
        if r.headers.get("authorization") != f"Basic {basic}" or r.query != query:
            return 400, {}, {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}
        return 200, {}, self._issue_token()

    def _graph_create_or_get(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        existing = next(
            (m for m in self.graph_meetings.values() if m["externalId"] == body["externalId"]), None
        )
        if existing:
            return 200, {}, existing
        meeting_id = f"MSo{uuid.uuid4().hex}"
        meeting = body | {"id": meeting_id, "joinWebUrl": f"https://teams.example/l/meetup-join/{meeting_id}"}
        self.graph_meetings[meeting_id] = meeting
        return 201, {}, meeting

    def _zoom_create(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        if body.get("type") != 2:
            return 400, {}, {"code": 300, "message": "Invalid meeting type"}
        meeting_id = str(next(self._zoom_ids))
        meeting = body | {
            "id": int(meeting_id),
            "join_url": f"https://zoom.example/j/{meeting_id}?pwd=abc",
            "start_url": f"https://zoom.example/s/{meeting_id}?zak=host-secret",
        }
        self.zoom_meetings[meeting_id] = meeting
        return 201, {}, meeting

    def _zoom_list(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        # Like Zoom: pages of `page_size`, a next_page_token while more remain, and no start_url.
        size = int(query.get("page_size", ["30"])[0])
        start = int(query.get("next_page_token", ["0"])[0] or 0)
        kind = query.get("type", ["scheduled"])[0]
        listed = [
            {key: m[key] for key in ("id", "topic", "start_time", "duration", "join_url")}
            for m in sorted(self.zoom_meetings.values(), key=lambda m: m["id"])
            if _zoom_lists(kind, m["start_time"])
        ]
        page = listed[start : start + size]
        more = start + size < len(listed)
        return (
            200,
            {},
            {"page_size": size, "next_page_token": str(start + size) if more else "", "meetings": page},
        )

    def _change(
        self, meetings: dict[str, Any], method: str, meeting_id: str, r: Received, required: tuple[str, ...]
    ) -> tuple[int, dict[str, str], Any]:
        if meeting_id not in meetings:
            return 404, {}, {"error": {"code": "NotFound", "message": "no such meeting"}}
        if method == "DELETE":
            del meetings[meeting_id]
            return 204, {}, None
        changes = r.json()
        if any(key not in changes for key in required):  # Graph moves a meeting only given both ends
            return 400, {}, {"error": {"code": "BadRequest", "message": f"{required} are required together"}}
        meetings[meeting_id].update(changes)
        # Graph answers with the meeting, Zoom with no body.
        return (200, {}, meetings[meeting_id]) if required else (204, {}, None)

    def _webhook(self, r: Received) -> tuple[int, dict[str, str], Any]:
        timestamp = r.headers.get("x-clinic-timestamp", "")
        signature = r.headers.get("x-clinic-signature", "")
        if not verify_signature(WEBHOOK_SECRET, timestamp, r.body, signature, now=time.time()):
            return 401, {}, {"error": "bad signature"}
        event = r.json()
        if event["event"] == "create":
            key = event[self.webhook_keyed_by]
        else:  # about the meeting it names, by the id we answered with
            named = event["meeting"]["external_id"]
            key = next((k for k, m in self.webhook_meetings.items() if m["external_id"] == named), None)
            if event["event"] == "cancel":
                return (204, {}, None) if self.webhook_meetings.pop(key, None) else (404, {}, None)
            if key is None:
                return 404, {}, {"error": "unknown meeting"}
        meeting = self.webhook_meetings.setdefault(
            key,
            {
                "join_url": f"https://video.hospital.example/{secrets.token_hex(16)}",
                "host_url": f"https://video.hospital.example/host/{secrets.token_hex(16)}",
                "external_id": f"room-{next(self._webhook_ids)}",
            },
        )
        meeting.update(subject=event["subject"], starts_at=event["starts_at"], ends_at=event["ends_at"])
        return 200, {}, meeting | self.webhook_answers_with


def _zoom_lists(kind: str, start_time: str) -> bool:
    """Whether Zoom lists a meeting starting at `start_time` among its `kind` ("type") of meetings: "upcoming"
    are those yet to start or live (none here: nobody joins the fake's meetings), "scheduled" those and the
    previous ones not yet expired, as Zoom's API reference says."""
    if kind == "scheduled":
        return True
    try:
        starts = datetime.strptime(start_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return kind == "upcoming"  # a test's stand-in without a time: taken as to come
    return kind == "upcoming" and starts >= datetime.now(UTC)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes; don't wait for an ACK
    server: "_Server"

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = Received(self.command, url.path, parse_qs(url.query), headers, body)
        status, extra_headers, payload = self.server.fake.handle(request)
        raw = isinstance(payload, bytes)  # a script or a page, sent as it is with its own Content-Type
        data = payload if raw else b"" if payload is None else json.dumps(payload).encode()
        try:
            self.send_response(status)
            for name, value in extra_headers.items():
                self.send_header(name, value)
            if data and not raw:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if request.drip:
                for byte in data:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(request.drip)
            else:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a stalled request); that is the point

    do_GET = do_PATCH = do_DELETE = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stalled handler must not hold up teardown

    def __init__(self, fake: FakeProviders) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


@contextmanager
def serving() -> Iterator[FakeProviders]:
    """A fresh fake Graph + Zoom + webhook server on a free loopback port, for the length of the block."""
    fake = FakeProviders()
    server = _Server(fake)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def fake_providers() -> Iterator[FakeProviders]:
    """A fresh fake Graph + Zoom + webhook server on a free loopback port."""
    with serving() as fake:
        yield fake


@pytest.fixture
def provider_settings(fake_providers: FakeProviders) -> dict[str, Any]:
    """Every setting, with every provider pointed at `fake_providers`: for adapters made without an app."""
    return config.defaults() | fake_providers.settings()
