"""gunicorn settings for Kriya: gunicorn -c gunicorn.conf.py kriya.wsgi"""

import logging
import os
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


def on_starting(server):
    # gunicorn's error log quotes malformed request lines, query strings and all: redact them too.
    from accounts.logging import RedactSecretsFilter

    logging.getLogger("gunicorn.error").addFilter(RedactSecretsFilter())
