"""A disk that fills up: a small tmpfs mounted for the test, which it fills to the last byte and frees again.
What is written there then meets the kernel's own ENOSPC, as on a full disk: SQLite's database file, a
PostgreSQL tablespace with a database of its own in it, or the folder mail is written to.

Mounting needs root with CAP_SYS_ADMIN, and `mount`: `small_disk` skips the test without them.
"""

import errno
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from flask_migrate import upgrade
from sqlalchemy import make_url

from clinic.extensions import db

from ..conftest import build_app, libpq_url


class SmallDisk:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._filler = path / "filler"

    def fill(self) -> None:
        """Take every byte left: each write after this one fails with ENOSPC, until `free`."""
        chunk = b"\0" * 65536
        descriptor = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                os.write(descriptor, chunk)  # short once nearly full; then ENOSPC
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
        finally:
            os.close(descriptor)

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)


@contextmanager
def small_disk(size: str = "32m", owner: str = "root") -> Iterator[SmallDisk]:
    """A tmpfs of `size` (mount's notation) whose top folder `owner` owns, mounted for the block."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small disk needs root and mount")
    account = pwd.getpwnam(owner)
    folder = Path(tempfile.mkdtemp(prefix="clinic-disk-"))
    folder.chmod(0o755)  # for PostgreSQL's server, not root, to reach the mount inside
    options = f"size={size},mode=0700,uid={account.pw_uid},gid={account.pw_gid}"
    command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)]
    mounted = subprocess.run(command, capture_output=True)
    if mounted.returncode != 0:  # root without CAP_SYS_ADMIN, as in some containers
        folder.rmdir()
        pytest.skip(f"cannot mount a small disk here: {mounted.stderr.decode().strip()}")
    try:
        yield SmallDisk(folder)
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)
        folder.rmdir()


@contextmanager
def database_on_small_disk(migrated_url: str, instance_path: str) -> Iterator[tuple[str, SmallDisk]]:
    """A migrated database of the same kind as `migrated_url` whose files are on a `SmallDisk`: for SQLite a
    copy of its file; for PostgreSQL a database of its own, in a tablespace on the disk."""
    if make_url(migrated_url).get_backend_name() == "sqlite":
        with small_disk() as disk:
            shutil.copy(make_url(migrated_url).database, disk.path / "clinic.sqlite")
            yield f"sqlite:///{disk.path / 'clinic.sqlite'}", disk
        return
    name = f"clinic_disk_{os.getpid()}"
    with small_disk(owner="postgres") as disk, _tablespace(migrated_url, name, disk.path) as server:
        server.execute(f'CREATE DATABASE "{name}" TABLESPACE "{name}"')
        url = make_url(migrated_url).set(database=name).render_as_string(hide_password=False)
        try:
            app = build_app(url, instance_path)
            with app.app_context():
                upgrade()
                db.engine.dispose()
            # Written out while there is room: a checkpoint writes every database's changed pages, and one
            # left for a full disk fails the checkpoint of any DROP DATABASE, another test process's too.
            server.execute("CHECKPOINT")
            yield url, disk
        finally:
            _drop_database(server, name)


def _drop_database(server: psycopg.Connection, name: str) -> None:
    """DROP DATABASE, which asks for a checkpoint: tried again while another test's full disk fails it."""
    for _ in range(40):
        try:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.errors.InternalError_:  # "checkpoint request failed"
            time.sleep(0.25)
    server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _tablespace(url: str, name: str, path: Path) -> Iterator[psycopg.Connection]:
    """The tablespace `name` at `path` for the block, and a connection to the server to run DDL on."""
    with psycopg.connect(libpq_url(url), autocommit=True) as server:
        _drop_database(server, name)  # a killed run's
        server.execute(f'DROP TABLESPACE IF EXISTS "{name}"')
        server.execute(f"CREATE TABLESPACE \"{name}\" LOCATION '{path}'")
        try:
            yield server
        finally:
            server.execute(f'DROP TABLESPACE IF EXISTS "{name}"')
