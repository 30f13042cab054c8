"""gunicorn settings for Kriya: gunicorn -c gunicorn.conf.py kriya.wsgi"""

import logging
import os
from pathlib import Path

import environ

environ.Env.read_env(Path(__file__).resolve().parent / ".env")  # as kriya/settings.py: the environment wins

# Loopback only: nginx (deploy/nginx.conf) stands in front and reads each request whole before gunicorn sees
# it. GUNICORN_BIND picks another address or a unix socket (unix:/run/kriya/public.sock).
bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8001')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads per worker: 1 is the sync worker (Plane's validate-token pool); the public pool runs several, so a
# request waiting on the SMS provider holds a thread, not a whole worker.
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = 30  # a worker stuck longer than this is restarted
graceful_timeout = 30
keepalive = 5  # Plane's backend reuses connections for its per-request validate calls
# Recycle workers now and then so slow leaks never build up; jitter keeps them from restarting together.
max_requests = 100000
max_requests_jitter = 10000

# gunicorn's control socket (gunicornc): off unless GUNICORN_CONTROL_SOCKET names a path for this instance.
# Its default is one path per user, so a second instance would unlink the first's.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket

accesslog = "-"
errorlog = "-"
# %(U)s is the path without its query string: ?token= values never reach the access log, and neither
# do request headers (Authorization, X-API-Key) or the referer, which may carry a token too.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s" rid=%({x-request-id}o)s'


def on_starting(server):
    # gunicorn's error log quotes malformed request lines, query strings and all: redact them too.
    from accounts.logging import RedactSecretsFilter

    logging.getLogger("gunicorn.error").addFilter(RedactSecretsFilter())
