"""Start the test relying party (rp.settings) under gunicorn: for tests/test_relying_party.py and bench/relying_party.py."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

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
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [GUNICORN, "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--no-control-socket",
             "--keep-alive", "5", "rp.wsgi"],
            cwd=RP_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"relying party exited: {log_path.read_text()[-2000:]}")
                with contextlib.suppress(OSError):
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("relying party did not start in 30 s")
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
