"""A minimal client of Gradio's queue protocol (what the page's own JavaScript speaks): log in, POST
/gradio_api/queue/join, read the session's server-sent events until the call completes. The load test uses it
because gradio_client spends about twice the server's CPU per call (a heartbeat and a stream thread per client,
httpx, its job machinery), and on a shared two-core machine the load generator would measure itself."""
from __future__ import annotations

import http.client
import json
import urllib.parse
import uuid


class CallError(RuntimeError):
    """The handler raised gr.Error (or failed): the message the page would show."""


class GradioSession:
    def __init__(self, url: str, auth: tuple[str, str] | None = None, timeout: float = 300) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.timeout = parts.hostname, parts.port or 80, timeout
        self.session_hash = uuid.uuid4().hex[:11]
        self.cookie = ""
        self.cookie = self._login(*auth) if auth else ""
        config = json.loads(self._request("GET", "/config")[1])
        # State and layout blocks (Column, Accordion) are not part of an endpoint's API, as in gradio_client.
        states = {c["id"] for c in config["components"] if c.get("type") == "state" or c.get("skip_api")}
        self.endpoints = {}
        for index, dep in enumerate(config["dependencies"]):
            name = dep.get("api_name")
            if name:
                self.endpoints[name] = (dep.get("id", index), dep["inputs"], dep["outputs"], states)

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _request(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"):
        conn = self._connection()
        try:
            headers = {"Content-Type": content_type, **({"Cookie": self.cookie} if self.cookie else {})}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response, response.read()
        finally:
            conn.close()

    def _login(self, user: str, password: str) -> str:
        body = urllib.parse.urlencode({"username": user, "password": password}).encode()
        response, text = self._request("POST", "/login", body, "application/x-www-form-urlencoded")
        if response.status != 200:
            raise CallError(f"login as {user} failed: {response.status} {text[:200]!r}")
        cookies = [v.split(";", 1)[0] for k, v in response.getheaders() if k.lower() == "set-cookie"]
        return "; ".join(cookies)

    def call(self, api_name: str, *values) -> list:
        """The outputs of one call, State outputs left out (as gradio_client returns them)."""
        fn_index, inputs, outputs, states = self.endpoints[api_name]
        given = iter(values)
        data = [None if component in states else next(given, None) for component in inputs]
        body = json.dumps({"data": data, "fn_index": fn_index, "session_hash": self.session_hash,
                           "event_data": None, "trigger_id": None}).encode()
        response, text = self._request("POST", "/gradio_api/queue/join", body)
        if response.status != 200:
            raise CallError(f"queue/join: {response.status} {text[:200]!r}")
        event_id = json.loads(text)["event_id"]
        result = self._wait(event_id)
        return [value for component, value in zip(outputs, result) if component not in states]

    def _wait(self, event_id: str) -> list:
        conn = self._connection()
        try:
            conn.request("GET", f"/gradio_api/queue/data?session_hash={self.session_hash}",
                         headers={"Cookie": self.cookie} if self.cookie else {})
            response = conn.getresponse()
            latest: list | None = None
            for raw in response:
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") != event_id:
                    continue
                kind = message.get("msg")
                if kind == "process_generating":
                    latest = _apply(latest, message["output"]["data"])
                elif kind == "process_completed":
                    output = message.get("output") or {}
                    if not message.get("success", True):
                        raise CallError(output.get("error") or "the handler failed")
                    # A generator's frames came as process_generating; the last one is the result.
                    return latest if latest is not None else list(output.get("data") or [])
            raise CallError("the event stream ended before the call completed")
        finally:
            conn.close()


def _apply(previous: list | None, data: list) -> list:
    """Generator frames after the first are diffs against the previous frame."""
    if previous is None:
        return list(data)
    from gradio_client.utils import apply_diff

    return [apply_diff(previous[i] if i < len(previous) else None, value) for i, value in enumerate(data)]
