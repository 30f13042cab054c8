"""gunicorn settings for Kriya: gunicorn -c gunicorn.conf.py kriya.wsgi"""

import logging
import os
import shutil
import tempfile
from pathlib import Path

import environ

environ.Env.read_env(Path(__file__).resolve().parent / ".env")  # as kriya/settings.py: the environment wins

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8001')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = 30  # a worker stuck longer than this is restarted
graceful_timeout = 30
keepalive = 5  # Plane's backend reuses connections for its per-request validate calls
# Recycle workers now and then so slow leaks never build up; jitter keeps them from restarting together.
max_requests = 100000
max_requests_jitter = 10000

accesslog = "-"
errorlog = "-"
# %(U)s is the path without its query string: ?token= values never reach the access log, and neither
# do request headers (Authorization, X-API-Key) or the referer, which may carry a token too.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s" rid=%({x-request-id}o)s'


# Prometheus: each worker writes its metrics to files in one directory that /metrics adds up. It must be
# this instance's alone and start empty, or counts of an earlier run (or another instance) would add in.
# Set before any worker imports prometheus_client, which reads it once.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="kriya-metrics-")
metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
# Ours to remove at exit (recognised by name, as a reload runs this file again with the variable set).
_temporary_metrics_dir = metrics_dir.parent == Path(tempfile.gettempdir()) and metrics_dir.name.startswith("kriya-metrics-")


def on_starting(server):
    # gunicorn's error log quotes malformed request lines, query strings and all: redact them too.
    from accounts.logging import RedactSecretsFilter

    logging.getLogger("gunicorn.error").addFilter(RedactSecretsFilter())
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()


def pre_fork(server, worker):
    # Each worker gets the lowest slot no live worker holds (an exited one is reaped before its replacement forks).
    taken = {getattr(live, "metrics_slot", None) for live in server.WORKERS.values()}
    worker.metrics_slot = next(slot for slot in range(len(taken) + 1) if slot not in taken)


def post_fork(server, worker):
    # Name this worker's metric files by its slot rather than its pid: a replacement (max_requests, a timeout)
    # carries on its predecessor's counts in the same files, instead of leaving one more set of files per
    # recycle for every scrape to read. Runs before the app, and so every metric, is loaded (no preload_app).
    from prometheus_client import values

    values.ValueClass = values.MultiProcessValue(lambda: f"worker{worker.metrics_slot}")


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(f"worker{worker.metrics_slot}", path=str(metrics_dir))  # drops only live gauges


def on_exit(server):
    if _temporary_metrics_dir:
        shutil.rmtree(metrics_dir, ignore_errors=True)
