"""Keys longer than the kit's column (255): recording such a session fails on PostgreSQL."""

from planelike import sessions


class SessionStore(sessions.SessionStore):
    key_length = 300
