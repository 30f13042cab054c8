"""Plane's real backend (../shared/plane/apps/api) for tests of the kit: its own pinned venv, built once and cached;
Plane migrated once into a template database; each test's database a copy of it; Plane served its production way
(gunicorn + uvicorn workers on plane.asgi), wired by kriya_client/src/kriya_client/plane/settings.py, the file
kriya_client/README.md shows."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg

from tests.servers import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
PLANE_API = REPO.parent / "shared" / "plane" / "apps" / "api"  # read-only: never written to, never copied into Kriya
CACHE = REPO / ".plane-venv"  # gitignored: the venv and a working copy of Plane's backend (its logs land there)
REQUIREMENTS = PLANE_API / "requirements" / "base.txt"
SERVER = "gunicorn==23.0.0"  # Plane's images pin it in their Dockerfile
KIT = REPO / "kriya_client"
SETTINGS = "kriya_client.plane.settings"


def missing() -> str | None:
    """Why Plane's backend cannot be tested here, or None."""
    if not (PLANE_API / "manage.py").is_file() or not REQUIREMENTS.is_file():
        return f"needs Plane's backend at {PLANE_API} (a pinned snapshot; see its README)"
    return None


def _digest(*parts: bytes) -> str:
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:12]


def _tree_digest(root: Path, pattern: str = "*") -> bytes:
    files = sorted(path for path in root.rglob(pattern) if path.is_file() and "__pycache__" not in path.parts)
    return b"".join(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() for path in files)


@contextlib.contextmanager
def _locked(name: str):
    """One builder at a time (two test runs of one checkout may start together)."""
    CACHE.mkdir(exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run(args, log: Path, **kwargs) -> None:
    with open(log, "ab") as out:
        result = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, **kwargs)
    if result.returncode:
        raise RuntimeError(f"{' '.join(map(str, args[:4]))} … failed ({result.returncode}): "
                           f"{log.read_text(errors='replace')[-3000:]}")


def venv() -> Path:
    """Plane's pinned requirements in a venv keyed by their hash (built once, minutes), with the kit installed
    from ./kriya_client as a relying party would (reinstalled whenever the kit changes, seconds)."""
    key = _digest(REQUIREMENTS.read_bytes(), SERVER.encode(), sys.version.encode())
    path = CACHE / f"venv-{key}"
    with _locked("venv"):
        if not (path / ".complete").exists():
            shutil.rmtree(path, ignore_errors=True)
            for stale in CACHE.glob("venv-*"):
                shutil.rmtree(stale, ignore_errors=True)
            log = CACHE / "venv-build.log"
            log.unlink(missing_ok=True)
            _run([sys.executable, "-m", "venv", str(path)], log)
            _run([str(path / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                  "-r", str(REQUIREMENTS), SERVER], log)
            (path / ".complete").touch()
        kit = _digest(_tree_digest(KIT / "src"), (KIT / "pyproject.toml").read_bytes())
        if not (path / f".kit-{kit}").exists():
            for stale in path.glob(".kit-*"):
                stale.unlink()
            build = CACHE / "kit-build"
            shutil.rmtree(build, ignore_errors=True)
            shutil.copytree(KIT, build, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
            _run([str(path / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                  "--force-reinstall", str(build)], CACHE / "kit-install.log")
            shutil.rmtree(build, ignore_errors=True)
            (path / f".kit-{kit}").touch()
    return path


def source() -> Path:
    """A working copy of Plane's backend: its production settings create logs/ beside its code, and Python writes
    bytecode there; the snapshot itself stays untouched."""
    key = _digest(_tree_digest(PLANE_API, "*.py"))
    path = CACHE / f"api-{key}"
    with _locked("api"):
        if not (path / ".complete").exists():
            shutil.rmtree(path, ignore_errors=True)
            for stale in CACHE.glob("api-*"):
                shutil.rmtree(stale, ignore_errors=True)
            shutil.copytree(PLANE_API, path, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
            (path / ".complete").touch()
    return path


class Postgres:
    """Plane's databases on the test run's PostgreSQL server: a template migrated once, a copy per test."""

    def __init__(self, host: str, port: int, user: str, password: str = ""):
        self.host, self.port, self.user, self.password = host, port, user, password

    def url(self, name: str) -> str:
        auth = f"{self.user}:{self.password}" if self.password else self.user
        return f"postgres://{auth}@{self.host}:{self.port}/{name}"

    def admin(self, *statements: str) -> list:
        with psycopg.connect(host=self.host, port=self.port, user=self.user, password=self.password or None,
                             dbname="postgres", autocommit=True) as connection:
            rows = []
            for statement in statements:
                cursor = connection.execute(statement)
                rows.append(cursor.fetchall() if statement.startswith("SELECT") else None)
            return rows

    def template(self, python: Path, plane: Path, env: dict) -> str:
        """plane_template_<key>: Plane's and the kit's migrations applied, keyed by both (about 95 s, once)."""
        # Keyed by where the venv really is: a checkout whose .plane-venv links to another's reuses its template.
        key = _digest(_tree_digest(plane, "migrations/*.py"), _tree_digest(KIT / "src", "migrations/*.py"),
                      str(python.parent.resolve() / python.name).encode())
        name = f"plane_template_{key}"
        with _locked("template"):
            existing = [row[0] for row in self.admin(
                "SELECT datname FROM pg_database WHERE datname LIKE 'plane\\_template\\_%'")[0]]
            if name in existing:
                return name
            for stale in existing:
                self.admin(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)')
            building = f"plane_build_{os.getpid()}"
            self.admin(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)', f'CREATE DATABASE "{building}"')
            try:
                _run([str(python), "manage.py", "migrate", "--noinput", "-v0"], CACHE / "migrate.log", cwd=plane,
                     env={**env, "DATABASE_URL": self.url(building)})
            except BaseException:
                self.admin(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
                raise
            self.admin(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        return name

    @contextlib.contextmanager
    def copy(self, template: str):
        """A fresh database for one test, copied from the template (a second, not a migration)."""
        name = f"plane_test_{secrets.token_hex(4)}"
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        try:
            yield self.url(name)
        finally:
            self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def environment(database_url: str, redis_url: str, kriya_url: str, api_key: str, **variables) -> dict:
    """Each Plane process's environment, as kriya_client/README.md's "Plane" page lists it."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("KRIYA_", "DJANGO_", "PLANE_", "ENABLE_")) and name not in {"DATABASE_URL", "DEBUG"}}
    env.update(DJANGO_SETTINGS_MODULE=SETTINGS, DATABASE_URL=database_url, REDIS_URL=redis_url,
               SECRET_KEY=secrets.token_urlsafe(50), DEBUG="0", KRIYA_BACKEND_URL=kriya_url, KRIYA_API_KEY=api_key,
               PYTHONDONTWRITEBYTECODE="1")
    env.update({name: str(value) for name, value in variables.items()})
    return env


class Plane:
    """Plane's api process: `gunicorn -w 2 -k uvicorn.workers.UvicornWorker plane.asgi:application`, as Plane's
    docker-entrypoint-api.sh starts it; stop() and start() again keep its port, database and environment."""

    def __init__(self, python: Path, source: Path, env: dict, log: Path, port: int | None = None):
        self.python, self.source, self.log = python, source, log
        self.port = port or free_port()  # known in advance: Kriya registers Plane's callback URL first
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {"WEB_URL": self.base, **env}
        self.process = None

    def start(self) -> None:
        gunicorn = str(self.python.with_name("gunicorn"))
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [gunicorn, "-w", "2", "-k", "uvicorn.workers.UvicornWorker", "plane.asgi:application",
                 "--bind", f"127.0.0.1:{self.port}", "--max-requests", "1200", "--max-requests-jitter", "1000"],
                cwd=self.source, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.port, self.process, timeout=60, log_path=self.log)
        self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until both workers have loaded Plane (and with it the kit's follower): each answers a request."""
        deadline = time.monotonic() + timeout
        answered = 0
        while answered < 4:
            if self.process.poll() is not None:
                raise RuntimeError(f"Plane exited: {self.log.read_text(errors='replace')[-3000:]}")
            try:
                urllib.request.urlopen(self.base + "/auth/kriya/", timeout=10)
            except urllib.error.HTTPError:  # 405 for a GET: Django answered
                answered += 1
                continue
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Plane did not answer in {timeout:g} s: {self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful stop); past 20 s, SIGKILL to its whole process group, so no worker outlives it."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # its own session (start_new_session): its group
                self.process.wait()
            self.process = None


def build(database_url: str) -> str:
    """Everything the tests need before the first Plane starts (CI runs this in the background, early)."""
    from urllib.parse import urlsplit

    url = urlsplit(database_url)
    postgres = Postgres(url.hostname or "127.0.0.1", url.port or 5432, url.username or "postgres", url.password or "")
    python = venv() / "bin" / "python"
    return postgres.template(python, source(), environment("", "redis://127.0.0.1:6379/0", "", ""))


if __name__ == "__main__":  # python -m tests.plane.launch: build (or find) the venv and the template database
    if missing():
        sys.exit(missing())
    print(build(os.environ["DATABASE_URL"]))
