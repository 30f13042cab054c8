"""A session engine with 128-character keys, as Plane's (plane.db.models.session): the kit must keep such keys."""

import string

from django.contrib.sessions.backends.cache import SessionStore as CacheSessionStore
from django.utils.crypto import get_random_string

made: list[str] = []  # every key this engine made, for tests that look for leftovers


class SessionStore(CacheSessionStore):
    key_length = 128

    def _get_new_session_key(self):
        while True:
            key = get_random_string(self.key_length, string.ascii_lowercase + string.digits)
            if not self.exists(key):
                made.append(key)
                return key
