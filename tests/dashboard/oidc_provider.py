"""A tiny OpenID Connect provider for tests: discovery, authorize (auto-approves one user), token, JWKS.

It signs real RS256 ID tokens (joserfc, which Authlib brings) so Streamlit's st.login() runs its
whole code-flow against it: redirect, code exchange, ID-token checks (issuer, audience, nonce,
signature, expiry), identity cookie. Not a provider for anything but tests on 127.0.0.1.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass
class OidcProvider:
    """One client (id and secret) and the one user every authorize request logs in as."""

    issuer: str
    client_id: str
    client_secret: str
    claims: dict[str, object]
    _key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "t"}))
    _codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (nonce, redirect)
    logins: int = 0

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/.well-known/openid-configuration", self._discovery),
            Route("/authorize", self._authorize),
            Route("/token", self._token, methods=["POST"]),
            Route("/jwks", self._jwks),
        ])  # fmt: skip

    async def _discovery(self, _: Request) -> Response:
        return JSONResponse({
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "email", "profile"],
        })  # fmt: skip

    async def _authorize(self, request: Request) -> Response:
        query = request.query_params
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return JSONResponse({"error": "unauthorized_client"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self._codes[code] = (query.get("nonce", ""), query["redirect_uri"])
        back = urlencode({"code": code, "state": query.get("state", "")})
        return RedirectResponse(f"{query['redirect_uri']}?{back}", status_code=302)

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            given_id, _, given_secret = base64.b64decode(header[6:]).decode().partition(":")
        else:
            given_id, given_secret = form.get("client_id", ""), form.get("client_secret", "")
        return given_id == self.client_id and secrets.compare_digest(given_secret, self.client_secret)

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        nonce, redirect_uri = self._codes.pop(form.get("code", ""), ("", ""))
        if not redirect_uri or redirect_uri != form.get("redirect_uri"):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "sub": "user-1", "iat": now,
                  "exp": now + 600, "nonce": nonce, **self.claims}  # fmt: skip
        id_token = jwt.encode({"alg": "RS256", "kid": "t"}, claims, self._key)
        self.logins += 1
        return JSONResponse({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                             "expires_in": 600, "id_token": id_token})  # fmt: skip

    async def _jwks(self, _: Request) -> Response:
        return JSONResponse({"keys": [self._key.as_dict(private=False)]})


@contextmanager
def serve(provider: OidcProvider, port: int) -> Iterator[OidcProvider]:
    """Run the provider on 127.0.0.1:port in a thread for the duration of the block."""
    server = uvicorn.Server(uvicorn.Config(provider.app(), host="127.0.0.1", port=port,
                                           log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30  # only stops a provider that never starts
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test OIDC provider did not start")
        time.sleep(0.05)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout=10)
