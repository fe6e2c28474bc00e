"""The trust boundary: one ASGI middleware in front of every route.

In order, for each HTTP request:

1. **Host**: the ``Host`` header must name the bound address or loopback
   (``127.0.0.1``, ``localhost``, ``::1``) or a name given with ``--allow-host``.  A page on
   another site that re-points its DNS name at 127.0.0.1 (DNS rebinding) sends its own name
   and is refused (HTTP 400).
2. **Token** (when the app has one): every request carries it, as ``Authorization: Bearer``,
   an ``X-Gutbrain-Token`` header, or the session cookie set by ``/login`` (or by opening a
   page with ``?token=``).  Otherwise HTTP 401 (API) or a redirect to ``/login`` (pages).
3. **Cross-origin writes**: a POST/PUT/PATCH/DELETE whose ``Origin`` (or, without one, its
   ``Referer``) is not this app, or which the browser labels ``Sec-Fetch-Site: cross-site``
   or ``same-site``, is refused (HTTP 403).  Requests with neither header come from
   programs (curl, scripts), not from a page in a browser, and pass.
4. **Size**: a body above the limit is refused (HTTP 413), at once from ``Content-Length`` or
   as soon as a streamed body passes it.

Every response gets ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: SAMEORIGIN``,
``Referrer-Policy: same-origin``, ``Cross-Origin-Resource-Policy: same-origin`` and, unless
the route set its own, a Content-Security-Policy that allows only this app's own scripts,
styles and images (no inline script, no remote asset); API responses are ``no-store``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = ["LOOPBACK", "SESSION_COOKIE", "Guard", "session_value", "split_host", "token_ok"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Respond = Callable[[Scope, int, str], Any]

#: Host names that always reach a loopback-bound app.
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
SESSION_COOKIE = "gutbrain_session"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
             "frame-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
             "object-src 'none'; frame-ancestors 'self'")
_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"SAMEORIGIN"),
            (b"referrer-policy", b"same-origin"), (b"cross-origin-resource-policy", b"same-origin")]
# reachable without the token: the login page and its stylesheet
_OPEN_PATHS = ("/login", "/static/style.css")


def split_host(value: str) -> str:
    """The host name of a ``Host`` header or URL netloc, lower-case, without port or brackets.

    Examples
    --------
    >>> split_host("[::1]:8765"), split_host("LocalHost:80"), split_host("example.org")
    ('::1', 'localhost', 'example.org')
    """
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def session_value(token: str) -> str:
    """The session cookie's value for ``token`` (a digest: the cookie never holds the token)."""
    return hashlib.sha256(f"gutbrain-web-session:{token}".encode()).hexdigest()


def token_ok(token: str, offered: str | None, *, cookie: bool = False) -> bool:
    """Constant-time check of an offered token (or session cookie value)."""
    if not offered:
        return False
    want = session_value(token) if cookie else token
    return hmac.compare_digest(want.encode(), offered.encode())


class Guard:
    """ASGI middleware enforcing Host, token, Origin and size rules (module docstring).

    Parameters
    ----------
    app
        The wrapped ASGI app.
    allowed_hosts
        Host names accepted in the ``Host`` header (None: any).
    token
        Required on every request when set.
    max_bytes
        Largest accepted request body.
    respond
        ``respond(scope, status, message)`` → a Response (JSON under ``/api``, else HTML).
    too_large
        ``too_large(max_bytes)`` → the 413 message.
    """

    def __init__(self, app: Any, *, allowed_hosts: frozenset[str] | None, token: str | None,
                 max_bytes: int, respond: Respond, too_large: Callable[[int], str]) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.token = token
        self.max_bytes = int(max_bytes)
        self.respond = respond
        self.too_large = too_large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for k, v in scope.get("headers") or []:
            headers.setdefault(k.decode("latin-1").lower(), v.decode("latin-1"))
        refusal = self._check(scope, headers)
        if refusal is not None:
            status, message, extra = refusal
            if status == 303:
                from starlette.responses import RedirectResponse

                response = RedirectResponse(dict(extra)["location"], status_code=303)
            else:
                response = self.respond(scope, status, message)
            await response(scope, receive, self._secured(scope, send))
            return
        if self.token and scope.get("method") == "GET":
            redirect = self._token_in_query(scope)
            if redirect is not None:
                await redirect(scope, receive, self._secured(scope, send))
                return
        await self.app(scope, self._counting(receive), self._secured(scope, send))

    # ------------------------------------------------------------------------- checks
    def _check(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str, list[tuple[str, str]]] | None:
        host_header = headers.get("host", "")
        host = split_host(host_header)
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            return (400, f"refused: Host {host_header!r} is not this app's address. Fix: open "
                    "the app at http://127.0.0.1:PORT/ (or start it with --allow-host "
                    f"{host or 'NAME'} if you reach it under that name)", [])
        path = str(scope.get("path", ""))
        root = str(scope.get("root_path", "")).rstrip("/")
        local = path[len(root):] if root and path.startswith(root) else path
        if self.token and not local.startswith(_OPEN_PATHS) and not self._authorised(headers, scope):
            if local.startswith("/api/") or local == "/api" or scope.get("method") not in _SAFE_METHODS:
                return (401, "this gutbrain server needs its access token. Fix: send it as "
                        "'Authorization: Bearer TOKEN' (API) or log in at /login", [])
            nxt = local + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
            return (303, "log in first", [("location", f"{root}/login?{urlencode({'next': nxt})}")])
        if scope.get("method") not in _SAFE_METHODS:
            bad = self._cross_origin(scope, headers)
            if bad:
                return (403, f"refused: {bad}, and this app accepts changes only from its own "
                        "pages. Fix: use the app's pages, or call the API from a program "
                        "(no Origin header)", [])
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return (413, self.too_large(self.max_bytes), [])
        return None

    def _authorised(self, headers: dict[str, str], scope: Scope) -> bool:
        assert self.token is not None
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and token_ok(self.token, auth[7:].strip()):
            return True
        if token_ok(self.token, headers.get("x-gutbrain-token")):
            return True
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == SESSION_COOKIE and token_ok(self.token, value, cookie=True):
                return True
        return self._token_in_query(scope, check_only=True) is True

    def _token_in_query(self, scope: Scope, *, check_only: bool = False) -> Any:
        """``?token=`` on a GET: set the session cookie and redirect to the clean URL."""
        assert self.token is not None
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [v for k, v in pairs if k == "token"]
        if not given or not token_ok(self.token, given[-1]):
            return None
        if check_only:
            return True
        from starlette.responses import RedirectResponse

        rest = urlencode([(k, v) for k, v in pairs if k != "token"])
        path = str(scope.get("path", "/"))
        response = RedirectResponse(path + (f"?{rest}" if rest else ""), status_code=303)
        root = str(scope.get("root_path", "")).rstrip("/") or "/"
        response.set_cookie(SESSION_COOKIE, session_value(self.token), httponly=True,
                            samesite="strict", path=root)
        return response

    @staticmethod
    def _cross_origin(scope: Scope, headers: dict[str, str]) -> str | None:
        """Why a state-changing request is cross-origin, or None when it is not."""
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return f"the browser marks this request {site}"
        host = headers.get("host", "").strip().lower()
        scheme = str(scope.get("scheme", "http"))
        origin = headers.get("origin")
        if origin is not None:
            if origin.strip().lower() == "null":
                return "the request comes from an opaque origin ('null')"
            parts = urlsplit(origin.strip())
            if parts.netloc.lower() != host or parts.scheme != scheme:
                return f"Origin {origin!r} is not this app ({scheme}://{host})"
            return None
        referer = headers.get("referer")
        if referer is not None:
            parts = urlsplit(referer.strip())
            if parts.netloc.lower() != host:
                return f"Referer {parts.scheme}://{parts.netloc} is not this app ({scheme}://{host})"
        return None

    # ------------------------------------------------------------------ body and headers
    def _counting(self, receive: Receive) -> Receive:
        seen = 0
        limit = self.max_bytes
        too_large = self.too_large

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    from starlette.exceptions import HTTPException

                    raise HTTPException(status_code=413, detail=too_large(limit))
            return message

        return counting

    @staticmethod
    def _secured(scope: Scope, send: Send) -> Send:
        path = str(scope.get("path", ""))
        api = "/api/" in path or path.endswith("/api")

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers") or [])
                have = {k.lower() for k, _ in raw}
                extra = [(k, v) for k, v in _HEADERS if k not in have]
                if b"content-security-policy" not in have:
                    extra.append((b"content-security-policy", _PAGE_CSP.encode()))
                if api and b"cache-control" not in have:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = raw + extra
            await send(message)

        return secured
