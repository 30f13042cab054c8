"""The kit's errors, in a module of their own: the client, the follower and the Django glue all raise them."""


class KriyaError(Exception):
    """Kriya answered something the kit cannot use (a refused API key, a malformed answer)."""


class KriyaUnavailable(KriyaError):
    """Kriya could not be reached or failed (5xx, timeout): the token is neither valid nor invalid. Fail closed."""


class CursorExpired(KriyaError):
    """410 from the feed: events were purged past our cursor, so cached answers may hide a revocation."""


class SignUpClosed(Exception):
    """The relying party does not take new users (Plane's ENABLE_SIGNUP is off and nobody invited this one)."""
