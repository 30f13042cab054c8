"""The OpenID Connect endpoints: django-oauth-toolkit's views, with the browser's Kriya session as the user.

The person signed in on the hosted pages (accounts/signin.py) is the user here; a staff member's admin login
is not (the staff console keeps its password login to itself).
"""

import uuid

from django.contrib.auth.models import AnonymousUser
from django.utils.decorators import method_decorator
from oauth2_provider.exceptions import InvalidIDTokenError, OAuthToolkitError
from oauth2_provider.views import AuthorizationView, RPInitiatedLogoutView
from oauth2_provider.views.oidc import _load_id_token

from . import oidc, signin
from .events import log_event
from .models import Session


def _as_signed_in(view, request) -> Session | None:
    session = signin.current_session(request)
    request.user = session.user if session is not None else AnonymousUser()
    view.kriya_session = session
    return session


@method_decorator(signin.page, name="dispatch")
class AuthorizeView(AuthorizationView):
    """The authorization endpoint: the hosted sign-in first when nobody is signed in; no consent screen for a
    first-party client (skip_authorization), a Kriya-styled one for the others."""

    template_name = "signin/consent.html"

    def dispatch(self, request, *args, **kwargs):
        _as_signed_in(self, request)
        return super().dispatch(request, *args, **kwargs)

    def handle_no_permission(self):
        # A request that can never succeed (unknown client, unregistered redirect URI, no PKCE) is answered
        # before the person is asked for a phone number and texted a code.
        try:
            self.validate_authorization_request(self.request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        return super().handle_no_permission()

    def handle_prompt_login(self):
        # prompt=login: the person proves the phone again, even with a signed-in browser.
        self.request.session[signin.REAUTHENTICATE] = True
        return super().handle_prompt_login()

    def create_authorization_response(self, request, scopes, credentials, allow):
        if allow and self.kriya_session is not None:
            credentials["kriya_session_id"] = self.kriya_session.pk
            credentials["kriya_phone_verified"] = signin.phone_verified(request)
        response = super().create_authorization_response(request, scopes, credentials, allow)
        if allow and self.kriya_session is not None:
            oidc.touch(self.kriya_session)
        return response

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "kriya_session": self.kriya_session}


@method_decorator(signin.page, name="dispatch")
class EndSessionView(RPInitiatedLogoutView):
    """RP-initiated logout: ends the Kriya session behind the ID token (and the browser's), which writes its
    revocation event, so every relying party following the feed ends its own session with that sid."""

    template_name = "signin/logout_confirm.html"

    def dispatch(self, request, *args, **kwargs):
        _as_signed_in(self, request)
        self.hinted_session_id = None
        return super().dispatch(request, *args, **kwargs)

    def validate_logout_request_user(self, id_token_hint, client_id):
        try:
            id_token = super().validate_logout_request_user(id_token_hint, client_id)
        except (ValueError, TypeError, AttributeError):  # a hint whose parts are not JSON: not one of our tokens
            raise InvalidIDTokenError() from None
        if id_token is not None:
            _, claims = _load_id_token(id_token_hint)
            try:
                self.hinted_session_id = uuid.UUID(str((claims or {}).get("sid")))
            except ValueError:
                self.hinted_session_id = None
        return id_token

    def do_logout(self, application=None, post_logout_redirect_uri=None, state=None, token_user=None):
        ended = []
        if token_user is not None and self.hinted_session_id is not None:
            ended.append(self.hinted_session_id)
        browser = self.kriya_session
        if browser is not None and (token_user is None or token_user.pk == browser.user_id):
            ended.append(browser.pk)
        user = token_user or (browser.user if browser is not None else None)
        if user is not None and ended:
            Session.objects.filter(user=user, pk__in=ended).revoke(reason="oidc_logout")
            for session_id in dict.fromkeys(ended):
                log_event("session_revoked", request=self.request, user=user, session_id=session_id,
                          reason="oidc_logout")
        return super().do_logout(application, post_logout_redirect_uri, state, token_user)
