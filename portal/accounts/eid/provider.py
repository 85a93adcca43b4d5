"""The OpenID Connect provider class the portal registers in place of allauth's generic one.

Registered through ``SOCIALACCOUNT_PROVIDERS["openid_connect"]["provider_class"]``, so every OpenID Connect
app (the national eID, and any added later) gets it. On top of allauth's flow (state bound to the session and
used once, PKCE): a nonce bound to the same state, the assurance asked for, the ID token's signature always
checked (views.EidOAuth2Adapter), and nothing a request adds to the scope or the authorization parameters.
allauth builds the login and callback URLs from this package's urls.py.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import requests
from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from django.http import HttpRequest, HttpResponse

from core.identity import acr_request_values
from portal.accounts.eid.views import NONCE_STATE_KEY, EidOAuth2Adapter


class EidProvider(OpenIDConnectProvider):
    package = "portal.accounts.eid"
    oauth2_adapter_class = EidOAuth2Adapter
    # No signing in by posting a bare ID token (allauth's headless API): it would carry no nonce of ours.
    supports_token_authentication = False

    def get_default_scope(self) -> list[str]:
        return ["openid"]

    def get_scope(self) -> list[str]:
        scope = super().get_scope()
        return scope if "openid" in scope else ["openid", *scope]

    # What the portal asks for is configuration, never a request parameter (?scope=, ?auth_params=).
    def get_scope_from_request(self, request: HttpRequest) -> list[str]:
        return self.get_scope()

    def get_auth_params_from_request(self, request: HttpRequest, action: Any) -> dict[str, Any]:
        return self.get_auth_params()

    def redirect(
        self, request: HttpRequest, process: Any, next_url: Any = None, data: Any = None, **kwargs: Any
    ) -> HttpResponse:
        nonce = secrets.token_urlsafe(32)
        settings = self.app.settings
        auth_params = {**(kwargs.pop("auth_params", None) or self.get_auth_params()), "nonce": nonce}
        acr_values = acr_request_values(
            accepted=settings.get("acr_values", []), minimum=settings.get("min_acr", "")
        )
        if acr_values:
            auth_params["acr_values"] = " ".join(acr_values)
        # Ask for the identifier and the assurance in the ID token itself: userinfo is not signed. Any
        # accepted level will do for signing in (acr_values above says which the portal prefers): a person
        # at a lower one is signed in and told what it does not allow.
        accepted = list(settings.get("acr_values", []))
        id_token_claims: dict[str, Any] = {"acr": {"essential": True, "values": accepted}}
        if claim := settings.get("identifier_claim"):
            id_token_claims[claim] = {"essential": True}
        auth_params["claims"] = json.dumps({"id_token": id_token_claims}, separators=(",", ":"))
        # The nonce is stashed with the state: the callback finds it there, and it goes when the state goes.
        kwargs[NONCE_STATE_KEY] = nonce
        try:
            return super().redirect(request, process, next_url, data, auth_params=auth_params, **kwargs)
        except (OAuth2Error, requests.RequestException) as error:
            # The eID's discovery document is unreachable or names another issuer.
            return render_authentication_error(request, self, exception=error)

    def extract_uid(self, data: Any) -> str:
        return str(data["id_token"]["sub"])

    def extract_extra_data(self, data: Any) -> dict[str, Any]:
        # Kept on allauth's SocialAccount row (the admin shows it): never the national identifier or names.
        claims = data.get("id_token", {})
        return {"id_token": {key: claims[key] for key in ("iss", "sub", "acr") if key in claims}}

    def extract_common_fields(self, data: Any) -> dict[str, Any]:
        claims = data.get("id_token", {})
        # No email: an eID account has none until the citizen adds one (and verifies it).
        return {
            "first_name": str(claims.get("given_name") or "")[:150],
            "last_name": str(claims.get("family_name") or "")[:150],
        }

    def extract_email_addresses(self, data: Any) -> list[Any]:
        return []


provider_classes = [EidProvider]
