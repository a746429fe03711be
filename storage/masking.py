"""One way to hide secrets in text shown or stored: database URLs, stream URLs, error messages.

Engine, storage and dashboard all mask through `mask_secrets`, so a password typed into a stream URL
or a database URL never reaches a log line, a page, or a stored lesson source.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, unquote_plus

MASK = "***"

# Query parameters that carry a secret in the URLs schools paste (stream keys, signed links, tokens).
SECRET_PARAMS = frozenset({
    "password", "passwd", "pass", "pwd", "secret", "token", "access_token", "auth", "auth_token",
    "key", "apikey", "api_key", "sig", "signature", "x-amz-signature", "x-amz-credential",
    "x-amz-security-token", "credential", "session", "sessionid",
})

# scheme://userinfo@host... ; the userinfo runs to the LAST '@' before the path, so a password
# holding '/' or '@' (typed unencoded) is still taken whole.
_URL = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<rest>[^\s'\"<>]*)", re.IGNORECASE)
# key=value in a query; a value runs to the next '&' (or the fragment), so none of it is left shown.
_QUERY_PARAM = re.compile(r"(?P<key>[^&#=]+)=(?P<value>[^&#]*)")


def _mask_userinfo(rest: str) -> str:
    head, sep, tail = rest.partition("?")
    at = head.rfind("@")
    if at < 0:
        return rest
    userinfo, hostpart = head[:at], head[at + 1:]
    user, colon, _password = userinfo.partition(":")
    masked = f"{user}:{MASK}" if colon else MASK if _looks_like_token(user) else user
    return f"{masked}@{hostpart}{sep}{tail}"


def _looks_like_token(user: str) -> bool:
    """A bare userinfo that is long and random-looking is a token (https://TOKEN@host), not a name."""
    return len(user) >= 20 and not re.fullmatch(r"[a-z._-]+", user, re.IGNORECASE)


def _mask_query(rest: str) -> str:
    """Secret query values replaced in place; the rest of the text is kept as written, so masking
    twice, or a URL followed by punctuation in a message, reads the same."""
    head, sep, query = rest.partition("?")
    if not sep:
        return rest
    query, hash_, fragment = query.partition("#")

    def hide(param: re.Match[str]) -> str:
        secret = unquote_plus(param["key"]).lower() in SECRET_PARAMS
        return f"{param['key']}={MASK}" if secret else param.group(0)

    return f"{head}?{_QUERY_PARAM.sub(hide, query)}{hash_}{fragment}"


def mask_url(url: str) -> str:
    """The URL with the password or token in its user info and secret query values replaced by ***."""
    match = _URL.match(url.strip())
    if not match:
        return url
    rest = _mask_query(_mask_userinfo(match["rest"]))
    return f"{match['scheme']}{rest}"


def mask_secrets(text: str, *known: str | None) -> str:
    """`text` with every URL masked (see `mask_url`) and each known secret (e.g. a password) hidden.

    Known secrets are hidden both as typed and percent-encoded, as drivers echo either.
    """
    out = _URL.sub(lambda m: mask_url(m.group(0)), text)
    for secret in known:
        if secret:
            for form in {secret, quote(secret, safe=""), unquote(secret)}:
                if len(form) >= 1:
                    out = out.replace(form, MASK)
    return out
