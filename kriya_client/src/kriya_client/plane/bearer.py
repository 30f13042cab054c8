"""Kriya tokens (Authorization: Bearer) on Plane's API views, the opt-in KRIYA_PLANE_BEARER.

Plane's BaseViewSet and BaseAPIView name their own authentication_classes (session cookies), so DRF's
DEFAULT_AUTHENTICATION_CLASSES never reaches them: the kit puts its class first on those two bases, once, when
the app registry is ready. Views that name classes of their own keep exactly those.
"""

from ..drf import KriyaTokenAuthentication


def accept_kriya_tokens() -> None:
    from plane.app.views.base import BaseAPIView, BaseViewSet

    for view in (BaseViewSet, BaseAPIView):
        if KriyaTokenAuthentication not in view.authentication_classes:
            view.authentication_classes = [KriyaTokenAuthentication, *view.authentication_classes]
