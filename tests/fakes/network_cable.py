"""A network cable between the app and a server it needs, that a test can pull out: the server's host
gone without a word (powered off, moved away by a failover, behind a firewall that drops its packets), as
TCP sees it. `TcpLink` cannot show that: on 127.0.0.1 the kernel acknowledges whatever is sent, so a
connection the relay no longer serves is silent but never unacknowledged.

The cable is a veth pair, one end on this machine and the other in a network namespace of its own;
pulled, this machine's end is down and every packet either way is dropped, unanswered. The app connects
to a `TcpLink` in the namespace, which relays across the cable to one on this machine's end, which
relays to the server. Building it needs root with CAP_NET_ADMIN and CAP_SYS_ADMIN (a container may
run root without them) and `ip`, `unshare` and `nsenter`: `network_cable` skips the test without them.
"""

import ipaddress
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import make_url

from .tcp_link import TcpLink

ROOT = Path(__file__).resolve().parents[2]
# The capabilities a veth pair (net_admin) and a network namespace (sys_admin) need, by their bits.
CAPABILITIES = {"CAP_NET_ADMIN": 12, "CAP_SYS_ADMIN": 21}
# RFC 2544's range for network tests, in /30s (2**17 addresses): one per test process, by its id.
ADDRESSES = ipaddress.ip_network("198.18.0.0/15")


class NetworkCable:
    def __init__(self, stack: ExitStack, target: tuple[str, int]):
        pid = os.getpid()
        first = ADDRESSES.network_address + 4 * (pid % (ADDRESSES.num_addresses // 4))
        near, far = str(first + 1), str(first + 2)
        self._end = f"cable{pid}"  # at most 15 characters, as interface names are
        _run("ip", "link", "add", self._end, "type", "veth", "peer", "name", self._end + "f")
        stack.callback(_run, "ip", "link", "del", self._end, check=False)
        namespace = _namespace(stack)
        _run("ip", "link", "set", self._end + "f", "netns", str(namespace))
        in_namespace = ("nsenter", "--target", str(namespace), "--net")
        self._far_end = (*in_namespace, "ip", "link", "set", self._end + "f")
        _run(*in_namespace, "ip", "address", "add", f"{far}/30", "dev", self._end + "f")
        _run("ip", "address", "add", f"{near}/30", "dev", self._end)
        _run("ip", "link", "set", self._end, "up")
        self.plug()
        near_link = stack.enter_context(closing(TcpLink(*target, listen=near)))
        far_link = subprocess.Popen(
            [*in_namespace, sys.executable, "-m", "tests.fakes.tcp_link", far, near, str(near_link.port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        stack.callback(_stop, far_link)
        self.address = (far, int(far_link.stdout.readline()))

    def pull(self) -> None:
        """The far end down: this machine's end stays up with no carrier, so its route stays, and what
        is sent on it is dropped without a word (this end down would take the route, and a connection
        would be refused at once as unreachable)."""
        _run(*self._far_end, "down")

    def plug(self) -> None:
        _run(*self._far_end, "up")
        carrier = Path(f"/sys/class/net/{self._end}/carrier")
        deadline = time.monotonic() + 5
        while carrier.read_text().strip() != "1":
            assert time.monotonic() < deadline, f"{self._end} has no carrier"
            time.sleep(0.01)
        # Carrier is not yet a path: on some machines the first connection made at once still failed
        # (the app's first page after the plug answered 503, its next 200). Plugged in is when the far
        # relay answers.
        while getattr(self, "address", None):
            try:
                socket.create_connection(self.address, timeout=0.2).close()
                return
            except OSError:
                assert time.monotonic() < deadline, f"{self._end} carries nothing"


@contextmanager
def network_cable(server_url: str) -> Iterator[tuple[str, NetworkCable]]:
    """The server at `server_url` reached through a `NetworkCable`: the URL to give the app, and the
    cable. Skips the test where this machine cannot build one."""
    if lacking := _lacking():
        pytest.skip(
            f"a network cable needs root, CAP_NET_ADMIN, CAP_SYS_ADMIN, ip, unshare and nsenter: "
            f"this process lacks {', '.join(lacking)}"
        )
    url = make_url(server_url)
    with ExitStack() as stack:
        cable = NetworkCable(stack, (url.host, url.port))
        host, port = cable.address
        yield url.set(host=host, port=port).render_as_string(hide_password=False), cable


def _lacking() -> list[str]:
    """What this process lacks, of what building a cable needs."""
    lacking = [tool for tool in ("ip", "unshare", "nsenter") if shutil.which(tool) is None]
    if os.geteuid() != 0:
        lacking.append("root")
    effective = re.search(r"^CapEff:\s*([0-9a-f]+)$", Path("/proc/self/status").read_text(), re.MULTILINE)
    held = int(effective[1], 16) if effective else 0
    return lacking + [name for name, bit in CAPABILITIES.items() if not held >> bit & 1]


def _namespace(stack: ExitStack) -> int:
    """The id of a process holding a new network namespace, until `stack` closes."""
    holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
    stack.callback(_stop, holder)
    ours = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + 5
    while os.readlink(f"/proc/{holder.pid}/ns/net") == ours:  # until unshare has made it
        assert time.monotonic() < deadline, "unshare made no network namespace"
        time.sleep(0.01)
    return holder.pid


def _stop(process: subprocess.Popen) -> None:
    process.kill()
    process.wait()


def _run(*command: str, check: bool = True) -> None:
    subprocess.run(command, check=check, capture_output=True)
