"""A real PostgreSQL cluster for tests and benchmarks: Debian's binaries, a temporary data
directory.

    cluster = PostgresCluster(cluster_root())
    cluster.start()
    dsn = cluster.create_database()   # a fresh, empty database
    ...
    cluster.kill()                    # SIGKILL the postmaster: a crash
    cluster.start()                   # crash recovery, as after a power cut (fsync is on)

PostgreSQL refuses to run as root, and the tests and bench/run.py do, so every server binary
runs as the `postgres` account (run_as_postgres) in a directory chowned to it. The cluster
listens on 127.0.0.1 at a free port, with its unix socket inside its own directory (never
/var/run/postgresql), trusts every local connection, and keeps fsync on: durability is under
test.

A streaming standby of a running cluster (failover tests):

    standby = primary.standby(cluster_root())   # pg_basebackup -R -X stream, started
    primary.set_synchronous(standby.name)       # commits wait for the standby's flush
    primary.kill(); standby.promote()           # the standby takes over, read-write

initdb's pg_hba.conf already trusts replication connections from 127.0.0.1 (--auth=trust).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SETUP_HINT = "run scripts/setup_system.sh (it installs Debian's postgresql package)"

START_TIMEOUT = 30.0


class PostgresMissing(RuntimeError):
    """PostgreSQL's binaries or its account are not on this machine."""


def bin_dir() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if not found:
        raise PostgresMissing(
            f"no PostgreSQL found (/usr/lib/postgresql/*/bin/initdb); {SETUP_HINT}"
        )
    return Path(found[-1]).parent


def run_as_postgres(
    program: str, *args: str, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the PostgreSQL binary `program` (initdb, pg_ctl, pg_basebackup...) as the
    `postgres` account; its output is captured and shown if it fails."""
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresMissing(f"there is no `postgres` account; {SETUP_HINT}") from None
    command = [str(bin_dir() / program), *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    result = subprocess.run(
        command, cwd=cwd or "/", capture_output=True, text=True, timeout=120, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chown_to_postgres(path: Path) -> None:
    account = pwd.getpwnam("postgres")
    os.chown(path, account.pw_uid, account.pw_gid)


def cluster_root() -> Path:
    """A fresh directory for a cluster, directly in the system's temporary directory: every
    parent must stay traversable by postgres, and pytest makes its own base directory 0700
    whenever a run starts (another run's start would lock a running cluster out)."""
    return Path(tempfile.mkdtemp(prefix="configd-pg-"))


class PostgresCluster:
    """One PostgreSQL cluster in `root` (created if missing, chowned to postgres); every
    parent of `root` must be traversable by postgres (cluster_root())."""

    def __init__(self, root: Path, *, port: int | None = None, name: str = "primary") -> None:
        self.root = root
        # A standby's application_name on its primary (synchronous_standby_names).
        self.name = name
        self.data = root / "data"
        self.socket_dir = root / "socket"
        self.log_path = root / "server.log"
        self.port = port or free_port()
        self._databases = 0

    # -- lifecycle -----------------------------------------------------------------------

    def init(self) -> None:
        """initdb: trust authentication, superuser `postgres`, UTF-8."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        for path in (self.root, self.socket_dir):
            chown_to_postgres(path)
        run_as_postgres(
            "initdb",
            "--auth=trust",
            "-U",
            "postgres",
            "--encoding=UTF8",
            "--locale=C",
            "-D",
            str(self.data),
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# configd/testing_postgres.py\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "fsync = on\n"
                "synchronous_commit = on\n"
                "max_connections = 200\n"
                "shared_buffers = 32MB\n"
            )

    def start(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            self.init()
        run_as_postgres(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log_path),
            "-w",
            "-t",
            str(int(START_TIMEOUT)),
            "start",
        )

    def stop(self) -> None:
        """A fast shutdown (clients are disconnected, nothing is lost)."""
        if self.running():
            run_as_postgres("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def kill(self) -> None:
        """SIGKILL the postmaster (and so, soon, its backends): a crash."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self._alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        # Orphaned backends exit on their own when the postmaster dies; wait until the
        # port is free, so start() does not race them.
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
            except OSError:
                break
            time.sleep(0.05)
        # The killed postmaster may linger as a zombie (pg_ctl leaves it to pid 1, which in
        # a container may never reap it); PostgreSQL would take its lock files for a live
        # server's.
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        for lock in self.socket_dir.glob(".s.PGSQL.*"):
            lock.unlink(missing_ok=True)

    def standby(self, root: Path, *, name: str = "standby") -> PostgresCluster:
        """A streaming standby of this running cluster in `root` (pg_basebackup -R -X
        stream: it follows this one's WAL from the moment of the copy), started."""
        standby = PostgresCluster(root, name=name)
        root.mkdir(parents=True, exist_ok=True)
        standby.socket_dir.mkdir(exist_ok=True)
        for path in (root, standby.socket_dir):
            chown_to_postgres(path)
        conninfo = f"host=127.0.0.1 port={self.port} user=postgres application_name={name}"
        run_as_postgres(
            "pg_basebackup",
            "-D",
            str(standby.data),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "-d",
            conninfo,
        )
        # The copy carries this cluster's postgresql.conf; later lines win.
        with (standby.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\n# the standby {name}\n"
                f"port = {standby.port}\n"
                f"unix_socket_directories = '{standby.socket_dir}'\n"
            )
        with (standby.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"primary_conninfo = '{conninfo}'\n")
        standby.start()
        return standby

    def set_synchronous(self, standby_name: str | None) -> None:
        """Commits wait until `standby_name` flushed them (None: asynchronous again)."""
        names = standby_name or ""
        self.psql(f"ALTER SYSTEM SET synchronous_standby_names = '{names}'")
        self.psql("SELECT pg_reload_conf()")

    def wait_streaming(self, standby_name: str, timeout: float = START_TIMEOUT) -> None:
        """Until `standby_name` streams from this cluster (and, if named in
        synchronous_standby_names, is its synchronous standby)."""
        deadline = time.monotonic() + timeout
        query = (
            f"SELECT sync_state FROM pg_stat_replication WHERE application_name = '{standby_name}'"
        )
        wanted = self.psql("SHOW synchronous_standby_names")
        while True:
            state = self.psql(query)
            if state and (state == "sync" or not wanted):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{standby_name} does not stream from {self.dsn()} ({state!r})")
            time.sleep(0.05)

    def promote(self) -> None:
        """pg_ctl promote: this standby ends recovery and accepts writes."""
        run_as_postgres(
            "pg_ctl", "-D", str(self.data), "-w", "-t", str(int(START_TIMEOUT)), "promote"
        )

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def pid(self) -> int | None:
        try:
            first = (self.data / "postmaster.pid").read_text().split("\n", 1)[0]
        except OSError:
            return None
        pid = int(first)
        return pid if self._alive(pid) else None

    def running(self) -> bool:
        return self.pid() is not None

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # A zombie (not yet reaped by pg_ctl's parent, which is init) counts as gone.
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().split(") ", 1)[1][0] != "Z"
        except OSError:
            return False

    # -- databases -----------------------------------------------------------------------

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq URI for `dbname` over TCP as the superuser."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run `sql` with psql; its unaligned output."""
        result = run_as_postgres(
            "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            self.dsn(dbname),
            "-c",
            sql,
        )
        return result.stdout.strip()

    def create_database(self, name: str | None = None) -> str:
        """CREATE DATABASE (a fresh name unless given); its DSN."""
        if name is None:
            self._databases += 1
            name = f"configd_{os.getpid()}_{self._databases}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)
