"""Kriya as an OpenID Connect provider: the claims, and the Kriya session behind every OIDC token.

django-oauth-toolkit does the protocol; this validator adds what is Kriya's own:
- a sign-in's authorization code records the browser's Kriya session (OidcSessionLink), and its refresh-token
  family takes the link over, so a revoked or expired Kriya session refuses the refresh, the userinfo call and
  a code not yet exchanged;
- the claims: sub, phone_number(_verified), given_name/family_name/name, email(_verified), sid, amr;
- authorization code with PKCE only, and redirect URIs compared as whole strings.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import Application, RefreshToken
from oauth2_provider.oauth2_validators import OAuth2Validator

from .models import OidcSessionLink, Session

RESPONSE_TYPES = {"code"}
GRANT_TYPES = {"authorization_code", "refresh_token"}
AMR = ["sms"]  # RFC 8176: the person proved the phone with a texted code


def live_session(session_id) -> Session | None:
    """The Kriya session if it is live and its user active, else None."""
    if session_id is None:
        return None
    session = Session.objects.live().select_related("user").filter(pk=session_id).first()
    return session if session is not None and session.user.is_active else None


def link_of_family(token_family) -> OidcSessionLink | None:
    if token_family is None:
        return None
    return OidcSessionLink.objects.filter(token_family=token_family).first()


class KriyaOAuth2Validator(OAuth2Validator):
    oidc_claim_scope = {
        **OAuth2Validator.oidc_claim_scope,
        "sid": "openid",
        "amr": "openid",
    }

    # --- what clients may ask for ---

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs):
        return response_type in RESPONSE_TYPES and super().validate_response_type(
            client_id, response_type, client, request, *args, **kwargs)

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        return grant_type in GRANT_TYPES and super().validate_grant_type(
            client_id, grant_type, client, request, *args, **kwargs)

    def validate_redirect_uri(self, client_id, redirect_uri, request, *args, **kwargs):
        # Simple string comparison (OpenID Connect Core 3.1.2.1): no loopback port leeway either.
        return redirect_uri in request.client.redirect_uris.split()

    def validate_user(self, username, password, client, request, *args, **kwargs):
        return False  # no password grant: a staff password never buys tokens here

    def validate_silent_login(self, request):
        # prompt=none: the authorization view answers login_required itself when no Kriya session is signed in.
        return True

    def validate_silent_authorization(self, request):
        # prompt=none cannot show the consent screen: only a first-party client may skip it.
        return bool(request.client.skip_authorization)

    # --- the Kriya session behind the code and the tokens ---

    def _create_authorization_code(self, request, code, expires=None):
        grant = super()._create_authorization_code(request, code, expires)
        # Set by accounts.oidc_views.AuthorizeView from the browser's signed-in Kriya session.
        OidcSessionLink.objects.create(grant=grant, session_id=request.kriya_session_id,
                                       phone_verified=request.kriya_phone_verified)
        return grant

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            return False
        link = OidcSessionLink.objects.filter(grant__code=code, grant__application=client).first()
        return self._attach(link, request)

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):
        refresh_token = super()._create_refresh_token(request, refresh_token_code, access_token, previous_refresh_token)
        if previous_refresh_token is None:  # a code's first tokens: the family takes the code's link over
            OidcSessionLink.objects.filter(pk=request.kriya_link.pk).update(token_family=refresh_token.token_family)
        return refresh_token

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        if not self._attach(link_of_family(request.refresh_token_instance.token_family), request):
            return False
        touch(request.kriya_session)  # a relying party in use keeps the session from idling out
        return True

    def validate_bearer_token(self, token, scopes, request):
        if not super().validate_bearer_token(token, scopes, request):
            return False
        family = RefreshToken.objects.filter(access_token=request.access_token).values_list("token_family", flat=True).first()
        return self._attach(link_of_family(family), request)

    def _attach(self, link: OidcSessionLink | None, request) -> bool:
        """Refuse unless the link's Kriya session is live; else give the request its session for the claims."""
        session = live_session(link.session_id) if link is not None else None
        if session is None or session.user_id != request.user.pk:
            return False
        request.kriya_link = link
        request.kriya_session = session
        return True

    # --- claims ---

    def get_additional_claims(self, request):
        user = request.user
        session = getattr(request, "kriya_session", None)
        link = getattr(request, "kriya_link", None)
        profile = {"given_name": user.first_name, "family_name": user.last_name,
                   "name": " ".join(part for part in (user.first_name, user.last_name) if part)}
        claims = {
            "phone_number": user.phone_number,
            "phone_number_verified": bool(link and link.phone_verified),
            **{name: value for name, value in profile.items() if value},  # an empty claim is left out (OIDC Core 5.3.2)
            "amr": AMR,
        }
        if user.email:
            claims.update(email=user.email, email_verified=False)  # Kriya never proves an email address
        if session is not None:
            claims["sid"] = str(session.pk)
        return claims

    def get_discovery_claims(self, request):
        return ["sub", "sid", "amr", "phone_number", "phone_number_verified", "given_name", "family_name", "name",
                "email", "email_verified"]

    def get_id_token_dictionary(self, token, token_handler, request):
        claims, expiration = super().get_id_token_dictionary(token, token_handler, request)
        session = getattr(request, "kriya_session", None)
        if session is not None:  # when the person proved the phone, not when Django last saw a login
            claims["auth_time"] = int(session.created_at.timestamp())
        return claims, expiration


def touch(session: Session) -> None:
    """A single sign-on used the session: its idle expiry starts again, as a refresh of its tokens would."""
    now = timezone.now()
    idle = min(now + timedelta(days=settings.REFRESH_TOKEN_IDLE_DAYS), session.expires_at)
    Session.objects.filter(pk=session.pk).update(last_used_at=now, idle_expires_at=idle)


def create_client(*, name: str, redirect_uris: list[str], public: bool = False, first_party: bool = False,
                  post_logout_redirect_uris: list[str] = ()) -> tuple[Application, str | None]:
    """Register a relying party: authorization code with PKCE, RS256 ID tokens. Returns it and, for a
    confidential client, its secret, which is stored only hashed (shown once). Raises ValidationError."""
    secret = generate_client_secret()
    client = Application(
        name=name, redirect_uris=" ".join(redirect_uris), post_logout_redirect_uris=" ".join(post_logout_redirect_uris),
        client_type=Application.CLIENT_PUBLIC if public else Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE, algorithm=Application.RS256_ALGORITHM,
        skip_authorization=first_party, client_secret=secret, hash_client_secret=True,
    )
    client.full_clean()
    client.save()
    return client, None if public else secret
