"""What a browser, proxy or CDN may keep of Kriya's API answers: nothing carrying a token, a code or personal data."""

from rest_framework.views import APIView

# Pragma: HTTP/1.0 caches and proxies read no Cache-Control.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


# An API view whose every answer, errors and throttling included, no cache may store. In the view rather than
# a middleware: validate-token, the hot path, keeps its own `private, max-age=N` (relying parties cache a valid
# answer by it) and pays nothing for the others. (A comment, not a docstring: the OpenAPI document would show a
# docstring as the description of every view that has none of its own.)
class PrivateAPIView(APIView):
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        for header, value in NO_STORE.items():
            response[header] = value
        return response
