"""Outbound HTTP POSTs with a wall-clock deadline: the SMS providers (sms.py) and the captcha check (captcha.py).

The deadline is for the whole exchange, not per read: a server that trickles its answer a byte at a time is cut
off at the deadline like one that never answers. Redirects are not followed: credentials go to the given URL only.
"""

import contextlib
import http.client
import socket
import threading
import urllib.parse

MAX_ANSWER_BYTES = 64 * 1024


class Unreachable(Exception):
    """Refused, timed out or cut off; the text says which, never the request's body."""


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> tuple[int, bytes]:
    """POST body to url; (status, the first 64 KiB of the answer) within timeout seconds in all, or Unreachable."""
    parts = urllib.parse.urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    expired = threading.Event()
    cutoff = threading.Timer(timeout, _cut, [connection, expired])
    cutoff.daemon = True
    cutoff.start()
    try:
        path = parts.path or "/"
        connection.request("POST", f"{path}?{parts.query}" if parts.query else path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read(MAX_ANSWER_BYTES)
    except (OSError, http.client.HTTPException) as error:  # refused, timed out, cut off
        reason = "timed out" if expired.is_set() or isinstance(error, TimeoutError) else str(error)
        raise Unreachable(reason or type(error).__name__) from None
    finally:
        cutoff.cancel()
        connection.close()
    return response.status, answer


def _cut(connection: http.client.HTTPConnection, expired: threading.Event) -> None:
    """The deadline passed: end the exchange wherever it is waiting (connect is bounded by its own timeout)."""
    expired.set()  # before the shutdown, so the waiting thread sees why its read failed
    with contextlib.suppress(OSError, AttributeError):
        connection.sock.shutdown(socket.SHUT_RDWR)
