"""A session engine with 128-character keys, as Plane's (plane.db.models.session): the kit must keep such keys."""

import string

from django.contrib.sessions.backends.cache import SessionStore as CacheSessionStore
from django.utils.crypto import get_random_string


class SessionStore(CacheSessionStore):
    def _get_new_session_key(self):
        while True:
            key = get_random_string(128, string.ascii_lowercase + string.digits)
            if not self.exists(key):
                return key
