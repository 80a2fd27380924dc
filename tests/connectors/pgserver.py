"""A throwaway PostgreSQL server on 127.0.0.1, for the SQL connector tests and the load benchmark.

    server = start_server()            # initdb + pg_ctl start, on a free port from 55432 up
    server.create_database("analytics")
    url = server.url("analytics")      # postgresql+psycopg://postgres:...@127.0.0.1:PORT/analytics
    server.stop()                      # pg_ctl stop -m fast, data folder removed

The cluster lives in its own temporary folder with fsync off (fast, and disposable by design). TCP
logins need the superuser's password (scram-sha-256), so a wrong password is really refused.
initdb refuses to run as root, so as root the server commands run as the ``postgres`` OS user
(created by Debian's postgresql package) through ``runuser``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

FIRST_PORT = 55432
SUPERUSER = "postgres"


class ServerUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (tests skip with this reason)."""


def find_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb, or the one on PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise ServerUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: "
        "install Debian's postgresql package (`apt-get install postgresql`)"
    )


def free_port(first: int = FIRST_PORT, tries: int = 200) -> int:
    """The first port from ``first`` on that nothing listens on at 127.0.0.1."""
    for port in range(first, first + tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}..{first + tries - 1}")


@dataclass
class PostgresServer:
    """A running throwaway cluster; ``password`` is the superuser's (random per server)."""

    bin_dir: Path
    root: Path
    port: int
    password: str
    _as_postgres: bool

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(
        self, database: str = "postgres", *, driver: str = "psycopg", password: str | None = None
    ) -> str:
        """A SQLAlchemy URL (``driver=""``: the plain ``postgresql://`` for libpq and ADBC)."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        secret = self.password if password is None else password
        return f"{scheme}://{SUPERUSER}:{secret}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through psql over the server's Unix socket (trusted locally); returns stdout."""
        return self._run(
            [
                str(self.bin_dir / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.root),
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-At",
                "-c",
                sql,
            ]
        )

    def create_database(self, name: str) -> None:
        self.psql(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder; again is a no-op."""
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run(
                    [
                        str(self.bin_dir / "pg_ctl"),
                        "-D",
                        str(self.data_dir),
                        "-m",
                        "fast",
                        "-w",
                        "stop",
                    ]
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, command: list[str]) -> str:
        program = Path(command[0]).name
        if self._as_postgres:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stderr.strip()}")
        return done.stdout


def start_server(port: int | None = None) -> PostgresServer:
    """initdb a fresh cluster in a temporary folder and start it on 127.0.0.1 (about 1-2 s)."""
    bin_dir = find_bin_dir()
    as_postgres = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="northstar-pg-"))
    if as_postgres:
        try:
            owner = pwd.getpwnam(SUPERUSER)
        except KeyError as exc:
            shutil.rmtree(root, ignore_errors=True)
            raise ServerUnavailable(
                f"running as root but there is no {SUPERUSER!r} OS user to run initdb as"
            ) from exc
        os.chown(root, owner.pw_uid, owner.pw_gid)
    password = secrets.token_urlsafe(16)
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    if as_postgres:
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    server = PostgresServer(bin_dir, root, port or free_port(), password, as_postgres)
    try:
        server._run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(server.data_dir),
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "--no-instructions",
                "--no-sync",
            ]
        )
        pwfile.unlink()
        for attempt in range(5):
            try:
                server._run(
                    [
                        str(bin_dir / "pg_ctl"),
                        "-D",
                        str(server.data_dir),
                        "-l",
                        str(root / "server.log"),
                        "-w",
                        "-t",
                        "30",
                        "-o",
                        f"-c listen_addresses=127.0.0.1 -p {server.port} -k {root} "
                        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                        # Counts the rows each statement returns (tests/warehouse/test_rows.py).
                        "-c shared_preload_libraries=pg_stat_statements "
                        "-c pg_stat_statements.track=all",
                        "start",
                    ]
                )
                break
            except RuntimeError:
                # Another process (a parallel test worker) took the port between our probe
                # and the server's bind: try the next free one.
                log = (root / "server.log").read_text(errors="replace")
                if port is not None or "could not bind" not in log or attempt == 4:
                    raise
                server.port = free_port(server.port + 1)
    except BaseException:
        with contextlib.suppress(Exception):
            server.stop()
        raise
    atexit.register(server.stop)  # also on an interrupted run; stopping twice is harmless
    return server
