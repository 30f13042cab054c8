"""RevocationFollower: reads Kriya's revocation feed, evicts what it revokes, and calls the relying party's hooks."""

from __future__ import annotations

import logging
import os
import threading
import time

from .errors import CursorExpired, KriyaError

logger = logging.getLogger("kriya_client")


class RevocationFollower:
    """Polls GET /api/auth/revocations every poll_seconds, in a daemon thread (start()) or a loop (run()).

    Each complete poll is a heartbeat: the cache answers only while the last one is recent enough.
    """

    def __init__(self, client, on_revoked=None, on_reset=None, poll_seconds: float = 1.0, page_size: int = 1000,
                 cursor_store=None):
        self.client = client
        self.cache = client.cache
        self.on_revoked = on_revoked
        self.on_reset = on_reset
        self.poll_seconds = poll_seconds
        self.page_size = page_size
        self.http = client._session(1)  # its own connection: a poll never queues behind validations
        # cursor_store (load() / save(cursor)) lets a restarted follower resume where the last one stopped,
        # so that on_revoked also sees the events of the downtime; without it a follower starts at the end.
        self.cursor_store = cursor_store
        self.cursor: str | None = None
        self._loaded = cursor_store is None
        self.polled_at: float | None = None  # monotonic time of the last complete poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def poll(self) -> int:
        """Read the feed to its end, apply each event; return how many there were."""
        if not self._loaded:
            try:
                self.cursor = self.cursor_store.load()
            except Exception:  # no saved cursor to be had: start at the end, as a first follower does
                logger.exception("kriya_client: could not load the saved revocation cursor")
            self._loaded = True
        if self.cursor is None:
            self._start_from_head()
            count = 0
        else:
            try:
                count = self._read_to_end()
            except CursorExpired:
                logger.warning("kriya_client: revocation cursor expired (410): dropping every cached answer")
                self._start_from_head(reset=True)
                count = 0
        self.cache.heartbeat()
        self.polled_at = time.monotonic()
        return count

    def _start_from_head(self, reset: bool = False) -> None:
        fresh = not reset and self.cache.fresh()  # other followers already keep a shared cache up to date
        _, self.cursor = self.client.revocations(limit=self.page_size, http=self.http)
        if not fresh:
            # Anything cached before the head was read may predate a revocation this follower will never see.
            self.cache.clear()
        if reset and self.on_reset is not None:
            self._call(self.on_reset)
        self._save()

    def _save(self) -> None:
        if self.cursor_store is not None:
            try:
                self.cursor_store.save(self.cursor)
            except Exception:  # the next poll saves again; eviction goes on meanwhile
                logger.exception("kriya_client: could not save the revocation cursor")

    def _read_to_end(self) -> int:
        count = 0
        while True:
            events, cursor = self.client.revocations(self.cursor, limit=self.page_size, http=self.http)
            for event in events:
                self.cache.revoke(event)
                if self.on_revoked is not None:
                    self._call(self.on_revoked, event)
            self.cursor = cursor
            count += len(events)
            if not events:
                if count:
                    self._save()
                return count

    @staticmethod
    def _call(hook, *args) -> None:
        try:
            hook(*args)
        except Exception:  # one failing hook must not stop the follower, nor eviction
            logger.exception("kriya_client: revocation hook %r failed", hook)

    def run(self, max_polls: int | None = None) -> None:
        """Poll until stop() (or max_polls polls); errors are logged and retried at the next poll."""
        polls = 0
        try:
            while not self._stop.is_set() and (max_polls is None or polls < max_polls):
                started = time.monotonic()
                try:
                    self.poll()
                except KriyaError as error:
                    logger.warning("kriya_client: revocation feed: %s", error)
                except Exception:
                    logger.exception("kriya_client: revocation feed poll failed")
                polls += 1
                self._stop.wait(max(0.0, self.poll_seconds - (time.monotonic() - started)))
        finally:
            if hasattr(self.cursor_store, "close"):  # e.g. this thread's database connection
                self.cursor_store.close()

    def start(self) -> None:
        """Start the daemon thread once per process (a forked child starts its own)."""
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._stop.clear()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self.run, name="kriya-revocations", daemon=True)
        self._thread.start()

    def stop(self, wait: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(wait)
        self.http.close()
