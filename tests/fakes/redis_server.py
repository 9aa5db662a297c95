"""A Redis server of the test's own (the machine's `redis-server`, on a free port, keeping nothing on disk),
which the test can fill to its memory limit: it then answers PING and reads, and refuses every write
with "OOM command not allowed", as a Redis shared with other programs does once `maxmemory` is reached
under the default policy (noeviction). Skips the test without `redis-server`."""

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis


class RedisServer:
    def __init__(self, port: int) -> None:
        self.url = f"redis://127.0.0.1:{port}/0"
        self._client = redis.Redis.from_url(self.url, socket_timeout=2)

    def fill(self) -> None:
        """At its memory limit: a limit below what it already holds."""
        self._client.config_set("maxmemory", 1)

    def free(self) -> None:
        self._client.config_set("maxmemory", 0)  # no limit

    def counts(self) -> int:
        """How many keys it holds: the limits' counts."""
        return self._client.dbsize()


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command = ["redis-server", *options, "--maxmemory-policy", "noeviction"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        server = RedisServer(port)
        deadline = time.monotonic() + 10
        while True:
            try:
                server._client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
