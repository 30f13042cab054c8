"""Routes of the OpenID Connect provider, in django-oauth-toolkit's namespace (its views reverse these names)."""

import json

from django.urls import re_path
from oauth2_provider import views as dot

from .caching import NO_STORE
from .oidc_views import AuthorizeView, EndSessionView

app_name = "oauth2_provider"


class DiscoveryView(dot.ConnectDiscoveryInfoView):
    """/.well-known/openid-configuration, saying exactly what Kriya accepts: code flow, S256, RS256."""

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        document = json.loads(response.content)
        document.update(
            id_token_signing_alg_values_supported=["RS256"],
            grant_types_supported=["authorization_code", "refresh_token"],
            response_modes_supported=["query"],
            code_challenge_methods_supported=["S256"],
            # beside the token endpoint, as the issuer (OIDC_ISSUER or the request's host) places it
            revocation_endpoint=document["token_endpoint"].rsplit("/", 1)[0] + "/revoke",
            claims_supported=sorted(document["claims_supported"]),
        )
        response.content = json.dumps(document)
        response["Content-Length"] = str(len(response.content))
        return response


class UserInfoView(dot.UserInfoView):
    """The person's claims: personal data, which no cache may keep (like the API's account answers)."""

    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        for header, value in NO_STORE.items():
            response[header] = value
        return response


urlpatterns = [
    re_path(r"^\.well-known/openid-configuration/?$", DiscoveryView.as_view(), name="oidc-connect-discovery-info"),
    re_path(r"^oauth/jwks/?$", dot.JwksInfoView.as_view(), name="jwks-info"),
    re_path(r"^oauth/authorize/?$", AuthorizeView.as_view(), name="authorize"),
    re_path(r"^oauth/token/?$", dot.TokenView.as_view(), name="token"),
    re_path(r"^oauth/userinfo/?$", UserInfoView.as_view(), name="user-info"),
    re_path(r"^oauth/revoke/?$", dot.RevokeTokenView.as_view(), name="revoke-token"),
    re_path(r"^oauth/logout/?$", EndSessionView.as_view(), name="rp-initiated-logout"),
]
