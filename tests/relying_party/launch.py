"""Start the test relying party (rp.settings) under gunicorn: for tests/test_relying_party.py and bench/relying_party.py."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from tests.servers import free_port, stop, wait_for_port

RP_DIR = Path(__file__).resolve().parent
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def rp_env(kriya_url: str, api_key: str, database: Path, **settings) -> dict:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("KRIYA_", "RP_", "DJANGO_"))}
    env.update(KRIYA_BACKEND_URL=kriya_url, KRIYA_API_KEY=api_key, RP_DATABASE=str(database),
               DJANGO_SETTINGS_MODULE="rp.settings", PYTHONPATH=str(RP_DIR))
    env.update({name: str(value) for name, value in settings.items()})
    return env


def migrate(env: dict) -> None:
    subprocess.run([sys.executable, "-m", "django", "migrate", "--noinput", "-v0"], cwd=RP_DIR, env=env, check=True)


@contextlib.contextmanager
def serve(env: dict, log_path: Path, workers: int = 2):
    """gunicorn rp.wsgi on a free loopback port; yields its base URL; stops it after."""
    port = free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [GUNICORN, "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--no-control-socket",
             "--keep-alive", "5", "rp.wsgi"],
            cwd=RP_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            wait_for_port(port, process, log_path=log_path)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(process)
