"""The eID login and callback views: allauth's OAuth2 views around an adapter that believes an ID token only
when its signature, issuer, audience, times, nonce and assurance hold."""

from __future__ import annotations

import time
from typing import Any

import requests
from allauth.account.internal.decorators import login_not_required
from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.models import SocialApp, SocialLogin, SocialToken
from allauth.socialaccount.providers.oauth2.client import OAuth2Client, OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.http import urlencode

from core.identity import IdentityRejected, VerifiedIdentity, check_claims, identity_from_claims
from core.oauth import client_assertion
from portal.accounts.eid.tokens import EidRejected, verify_id_token

NONCE_STATE_KEY = "eid_nonce"
IDENTITY_STATE_KEY = "eid_identity"
# The eID app a session signed in with: logging out of the portal then ends the session there too.
SIGNED_IN_WITH_SESSION_KEY = "eid_signed_in_with"


def verified_identity(sociallogin: SocialLogin) -> VerifiedIdentity | None:
    """The identity the callback verified for this login (kept in its state, which survives a
    re-authentication), or None."""
    return VerifiedIdentity.from_dict(sociallogin.state.get(IDENTITY_STATE_KEY))


PRIVATE_KEY_JWT = "private_key_jwt"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class PrivateKeyJwtClient(OAuth2Client):
    """The code exchange authenticated by a signed client assertion (private_key_jwt) instead of a secret."""

    def __init__(self, *args: Any, assertion: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._assertion = assertion

    def get_access_token(self, code: Any, pkce_code_verifier: Any = None, extra_data: Any = None) -> Any:
        # No secret is configured, so the base class sends only client_id (empty fields are dropped).
        data = {**(extra_data or {}), "client_assertion_type": ASSERTION_TYPE}
        data["client_assertion"] = self._assertion(self.access_token_url)
        return super().get_access_token(code, pkce_code_verifier=pkce_code_verifier, extra_data=data)


class EidOAuth2Adapter(OpenIDConnectOAuth2Adapter):
    # The state allauth unstashed for this callback (EidCallbackView puts it here): it holds the nonce.
    eid_state: dict[str, Any] | None = None

    def issuer(self) -> str:
        return str(self.get_provider().app.settings["server_url"])

    @property
    def openid_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().openid_config
        # Discovery names the issuer it speaks for: it must be the one configured (OIDC Discovery 4.3).
        if config.get("issuer") != self.issuer():
            raise EidRejected("discovery-issuer")
        return config

    def get_client(self, request: HttpRequest, app: SocialApp) -> Any:
        settings = app.settings
        if settings.get("token_auth_method") != PRIVATE_KEY_JWT:
            return super().get_client(request, app)

        def assertion(token_url: str) -> str:
            # Read when used: the key file may be rotated without a restart, and stays out of settings.
            with open(str(settings["private_key_file"]), encoding="utf-8") as key_file:
                private_key = key_file.read()
            return client_assertion(
                client_id=app.client_id,
                token_url=token_url,
                private_key_pem=private_key,
                algorithm=str(settings.get("signing_alg") or "RS256"),
                key_id=str(settings.get("key_id") or ""),
            )

        return PrivateKeyJwtClient(
            self.request,
            app.client_id,
            "",
            self.access_token_method,
            self.access_token_url,
            self.get_callback_url(request, app),
            scope_delimiter=self.scope_delimiter,
            headers=self.headers,
            basic_auth=False,
            assertion=assertion,
        )

    def complete_login(self, request: HttpRequest, app: SocialApp, token: SocialToken, **kwargs: Any) -> Any:
        response = kwargs.get("response") or {}
        id_token = response.get("id_token") if isinstance(response, dict) else None
        if not isinstance(id_token, str) or not id_token:
            raise EidRejected("no-id-token")
        state = self.eid_state
        if not isinstance(state, dict):
            raise EidRejected("state")
        claims = verify_id_token(
            id_token,
            jwks_uri=str(self.openid_config["jwks_uri"]),
            issuer=self.issuer(),
            client_id=app.client_id,
        )
        settings = app.settings
        try:
            check_claims(
                claims,
                issuer=self.issuer(),
                client_id=app.client_id,
                nonce=str(state.get(NONCE_STATE_KEY) or ""),
                now=time.time(),
            )
            identity = identity_from_claims(
                claims,
                identifier_claim=str(settings.get("identifier_claim", "")),
                identifier_system=str(settings.get("identifier_system", "")),
                accepted_acr=list(settings.get("acr_values", [])),
            )
        except IdentityRejected as rejected:
            raise EidRejected(rejected.code) from None
        # The nonce is spent with the state; the identity rides along to the binding (pre_social_login).
        state.pop(NONCE_STATE_KEY, None)
        state[IDENTITY_STATE_KEY] = identity.as_dict()
        return self.get_provider().sociallogin_from_response(request, {"id_token": claims})


class EidCallbackView(OAuth2CallbackView):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            if isinstance(self.adapter, EidOAuth2Adapter) and "error" not in request.GET:
                self._check_response_issuer(request, self.adapter)
            return super().dispatch(request, *args, **kwargs)
        except EidRejected as rejected:
            return render_authentication_error(request, self.adapter.get_provider(), exception=rejected)
        except (OAuth2Error, requests.RequestException) as error:
            # Raised before allauth's own handling starts (discovery, while building the token client).
            return render_authentication_error(request, self.adapter.get_provider(), exception=error)

    @staticmethod
    def _check_response_issuer(request: HttpRequest, adapter: EidOAuth2Adapter) -> None:
        """RFC 9207: the answer names the eID it came from, and must, when the eID says it always does; a
        code from another provider (a mix-up) never reaches this one's token endpoint."""
        named = request.GET.get("iss")
        if named is None:
            if adapter.openid_config.get("authorization_response_iss_parameter_supported") is True:
                raise EidRejected("response-issuer")
        elif named != adapter.issuer():
            raise EidRejected("response-issuer")

    def _get_state(self, request: HttpRequest, provider: Any) -> Any:
        state, response = super()._get_state(request, provider)
        if isinstance(self.adapter, EidOAuth2Adapter):
            self.adapter.eid_state = state
        return state, response


@login_not_required
def login(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        view = OAuth2LoginView.adapter_view(EidOAuth2Adapter(request, provider_id))
        return view(request)
    except SocialApp.DoesNotExist as error:
        raise Http404 from error


@login_not_required
def callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        view = EidCallbackView.adapter_view(EidOAuth2Adapter(request, provider_id))
        return view(request)
    except SocialApp.DoesNotExist as error:
        raise Http404 from error


def end_session_url(request: HttpRequest, provider_id: str, *, return_to: str) -> str:
    """Where to send the browser to end its session at the eID (OpenID Connect RP-Initiated Logout 1.0),
    coming back to ``return_to``; "" when the eID offers no such endpoint or cannot be reached. No ID token
    is kept for ``id_token_hint``: the client id names the portal, and the eID asks the person to confirm."""
    try:
        config = EidOAuth2Adapter(request, provider_id).openid_config
    except (SocialApp.DoesNotExist, EidRejected, OAuth2Error, requests.RequestException, ValueError):
        return ""
    endpoint = config.get("end_session_endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        return ""
    client_id = EidOAuth2Adapter(request, provider_id).get_provider().app.client_id
    query = urlencode({"client_id": client_id, "post_logout_redirect_uri": return_to})
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
