"""The network between the app and a server it needs (PostgreSQL, Redis), as a real TCP relay on
127.0.0.1 that a test can cut, stall and mend. Cut, every open connection is reset and each new one is
closed as soon as it is accepted, as a host that went down would look to the app; stalled, every open
connection is reset and each new one is accepted and never answered, as a new connection to a host
that vanished from the network would wait (a connection already open to one: network_cable.py).
`cut_after_sending` cuts it just after the server was sent a given message, before its answer can come
back."""

import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import make_url


class _Pair:
    """A client's connection and its connection to the server, relayed by two threads (one each way).

    Its sockets are shut down by whoever ends the relay, which wakes both threads, and closed by the
    second thread to finish, under the link's lock: a socket closed while another thread may still call
    it would free its file descriptor for another connection of this process (a test's own database
    session) to take, and the call would land on that one."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client, self.server = client, server
        self.relaying = 2


class TcpLink:
    def __init__(self, host: str, port: int, listen: str = "127.0.0.1"):
        self._target = (host, port)
        self._listener = socket.create_server((listen, 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[_Pair] = []
        self._waiting: list[socket.socket] = []  # clients a stalled link accepted, never relayed
        self._cut = False
        self._stalled = False
        self._cut_after: bytes | None = None
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            for pair in self._pairs:
                _shut(pair.client)  # its relay ends, and the other with it (see _finish)
            for client in self._waiting:
                _shut(client)
                client.close()  # no thread uses it
            self._waiting.clear()

    def stall(self) -> None:
        self.cut()
        with self._lock:
            self._stalled = True

    def cut_after_sending(self, marker: bytes) -> None:
        """Cut the link once a client has sent the server data holding `marker` (b"COMMIT\\x00", the
        statement as PostgreSQL's protocol ends it): the server runs it, and its answer is lost."""
        self._cut_after = marker

    def mend(self) -> None:
        with self._lock:
            self._cut = self._stalled = False
            self._cut_after = None

    def close(self) -> None:
        self.cut()
        _shut(self._listener)  # wakes the accepting thread
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                if self._stalled:
                    self._waiting.append(client)  # closed by the next cut, or on close
                    continue
                if self._cut:
                    _shut(client)
                    client.close()
                    continue
                pair = _Pair(client, socket.create_connection(self._target))
                self._pairs.append(pair)
            for source, sink in ((pair.client, pair.server), (pair.server, pair.client)):
                threading.Thread(target=self._relay, args=(pair, source, sink), daemon=True).start()

    def _relay(self, pair: _Pair, source: socket.socket, sink: socket.socket) -> None:
        to_server = source is pair.client
        with suppress(OSError):
            while data := source.recv(65536):
                if not to_server and self._cut:
                    break  # an answer to what was sent just before the cut: lost with the link
                if to_server and self._cut_after is not None and self._cut_after in data:
                    self._cut_after_sent(data, pair)
                    self._finish(pair, keep=pair.server)  # until the server's answer shows it ran it
                    return
                sink.sendall(data)
        self._finish(pair)

    def _cut_after_sent(self, data: bytes, pair: _Pair) -> None:
        """Send the server `data` and the connection's end, so that it reads and runs it, and cut the link:
        its answer is dropped (see `_relay`), and the client's end of the connection reset."""
        pair.server.sendall(data)
        pair.server.shutdown(socket.SHUT_WR)
        self.cut()

    def _finish(self, pair: _Pair, keep: socket.socket | None = None) -> None:
        """One of `pair`'s relays has ended: both sockets are shut (but `keep`), so the other ends too;
        the second to end closes them."""
        with self._lock:
            for sock in (pair.client, pair.server):
                if sock is not keep:
                    _shut(sock)
            pair.relaying -= 1
            if pair.relaying:
                return
            self._pairs.remove(pair)
            pair.client.close()
            pair.server.close()


def _shut(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def linked(server_url: str) -> Iterator[tuple[str, TcpLink]]:
    """The server at `server_url` (with its host and port) reached through a `TcpLink`: the URL to give
    the app, and the link."""
    url = make_url(server_url)
    link = TcpLink(url.host, url.port)
    try:
        yield url.set(host="127.0.0.1", port=link.port).render_as_string(hide_password=False), link
    finally:
        link.close()


if __name__ == "__main__":
    # python -m tests.fakes.tcp_link LISTEN_HOST TARGET_HOST TARGET_PORT: a link (network_cable.py runs one
    # in a network namespace of its own) that prints its port and relays until it is killed.
    listen_host, target_host, target_port = sys.argv[1:]
    relay = TcpLink(target_host, int(target_port), listen=listen_host)
    print(relay.port, flush=True)
    threading.Event().wait()
