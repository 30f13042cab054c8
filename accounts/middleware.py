import re
import time
import uuid

from .metrics import observe_request

# A caller's id is echoed into logs and headers: accept only short, plain ones.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIDMiddleware:
    """Tag each request with X-Request-ID (the caller's, if well-formed, else a new one) and return it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        presented = request.headers.get("X-Request-ID", "")
        request.request_id = presented if _REQUEST_ID.match(presented) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class MetricsMiddleware:
    """Time every request by route name, method and status class. Outermost, so it sees 500s too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        observe_request(request, response.status_code, time.perf_counter() - started)
        return response
