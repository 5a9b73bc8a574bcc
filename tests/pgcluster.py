"""A throw-away PostgreSQL cluster for the tests: initdb in a temporary directory, as an unprivileged user,
on a free local port, stopped (and deleted) at the end of the session.

``BOT_REQUIRE_POSTGRES=1`` (CI) turns "PostgreSQL is not installed" from a skip into a failure.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def find_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return found[0] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self):
        self.initdb, self.pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if not self.initdb or not self.pg_ctl:
            raise FileNotFoundError("PostgreSQL's initdb and pg_ctl are not installed (Debian: apt-get install postgresql)")
        self.root = Path(tempfile.mkdtemp(prefix="fanzha-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user = "bot"
        self._as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run the server as an unprivileged account
            account = next((n for n in ("postgres", "nobody") if _exists(n)), None)
            if account is None:
                raise RuntimeError("running as root and no unprivileged account (postgres, nobody) to run PostgreSQL")
            os.chmod(self.root, 0o777)
            self._as = ["runuser", "-u", account, "--"]

    def _run(self, *args: str, **kw) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, cwd=self.root, **kw)

    def start(self) -> Cluster:
        self._run(self.initdb, "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        self.options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        self.up()
        return self

    def down(self) -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")

    def up(self) -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-o", self.options, "-l", str(self.root / "log"), "-w", "-t", "60",
                  "start")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"create database {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


def _exists(account: str) -> bool:
    try:
        pwd.getpwnam(account)
        return True
    except KeyError:
        return False
