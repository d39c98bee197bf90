"""Which requests may reach the app at all, decided before Gradio reads them (an ASGI middleware).

- Origin: a browser request from any origin but the app's own (or BOT_ALLOWED_ORIGINS) is refused, so a page on
  another port of localhost cannot read a logged-in candidate's data with their cookie. Requests without an
  Origin header (gradio_client, curl) are not cross-site requests and pass.
- Host: bound to loopback, the app answers only to loopback host names (a DNS-rebinding page gets nothing).
- Size: a request body larger than the limit is refused from its Content-Length, or as soon as the bytes received
  pass it, before anything parses it.
"""
from __future__ import annotations

import ipaddress
import json
from bot.config import Settings

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
UPLOAD_PATH = "/gradio_api/upload"
UPLOAD_OVERHEAD = 1_000_000  # multipart framing around one upload of BOT_MAX_UPLOAD_BYTES


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(host_header: str) -> str:
    """`example.org:8080` -> `example.org`, `[::1]:7860` -> `::1`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class RequestGuard:
    def __init__(self, app, settings: Settings) -> None:
        self.app = app
        self.allowed_origins = set(settings.allowed_origins)
        self.loopback_only = _is_loopback(settings.host)
        self.allowed_hosts = LOOPBACK_NAMES | {_hostname(o.split("://", 1)[1]) for o in settings.allowed_origins}
        self.max_body = settings.max_request_bytes
        self.max_upload = settings.max_upload_bytes + UPLOAD_OVERHEAD

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            return await _refuse(scope, send, *refusal)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_upload if scope["path"].startswith(UPLOAD_PATH) else self.max_body
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            return await _refuse(scope, send, 413, _too_large(limit))
        started = refused = False

        async def tracked(message: dict) -> None:
            nonlocal started
            if refused:  # the app's own reply to a body we cut off is dropped
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def capped() -> dict:
            nonlocal refused, seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit and not refused:
                    refused = True
                    if not started:
                        await _refuse(scope, send, 413, _too_large(limit))
                    return {"type": "http.disconnect"}  # the app stops reading, as if the client had gone
            return message

        seen = 0
        await self.app(scope, capped, tracked)

    def _refusal(self, scope, headers: dict[str, str]) -> tuple[int, str] | None:
        host = headers.get("host", "")
        if self.loopback_only and host and _hostname(host) not in self.allowed_hosts:
            return 403, (f"This coach answers on localhost only, not on {host!r}. Open it at "
                         "http://127.0.0.1:<port>/, or list the address in BOT_ALLOWED_ORIGINS.")
        origin = headers.get("origin")
        if origin is None:
            return None
        origin = origin.strip().lower().rstrip("/")
        scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
        own = {f"{scheme}://{host.lower()}", f"{'wss' if scheme == 'https' else 'ws'}://{host.lower()}"}
        forwarded = headers.get("x-forwarded-proto")
        if forwarded:  # behind a TLS proxy the app itself is spoken to over http
            own.add(f"{forwarded.split(',')[0].strip().lower()}://{host.lower()}")
        if origin in own or origin in self.allowed_origins:
            return None
        return 403, (f"Requests from the web page at {origin!r} are refused: only the coach's own page may use it. "
                     "Behind a reverse proxy, add its address to BOT_ALLOWED_ORIGINS.")


def _too_large(limit: int) -> str:
    return (f"The request is larger than {limit:,} bytes and was refused before reading it. Paste less text, or "
            "raise BOT_MAX_REQUEST_BYTES (BOT_MAX_UPLOAD_BYTES for files).")


async def _refuse(scope, send, status: int, detail: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"error": detail, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
