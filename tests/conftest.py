"""Tests never reach the network and never touch the user's data: BOT_HOME is a temporary directory."""
from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

# Before anything imports gradio, chromadb or huggingface_hub.
_HOME = Path(tempfile.mkdtemp(prefix="coach-test-home-"))
os.environ["BOT_HOME"] = str(_HOME)
os.environ["BOT_MODEL"] = "offline"
os.environ["TIKTOKEN_CACHE_DIR"] = str(_HOME / "tiktoken")
for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", "BOT_AUTH", "BOT_DATABASE_URL", "BOT_CHROMA_URL"):
    os.environ.pop(key, None)
from bot.config import apply_offline_env  # noqa: E402

apply_offline_env()

import pytest  # noqa: E402
from servers import chroma_server, free_port, postgres_server, postgres_url  # noqa: E402,F401

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def pytest_configure(config):
    # Any connection to a non-loopback address fails the test that makes it.
    _real_connect = socket.socket.connect

    def guarded_connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in LOOPBACK and not str(host).startswith(
                "127."):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return _real_connect(self, address)

    socket.socket.connect = guarded_connect
    _real_getaddrinfo = socket.getaddrinfo

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host not in (None, "", *LOOPBACK) and not str(host).startswith("127."):
            raise RuntimeError(f"test tried to resolve a network host: {host!r}")
        return _real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = guarded_getaddrinfo


@pytest.fixture(scope="session")
def coach():
    from bot.coach import Coach

    return Coach()


@pytest.fixture(scope="session")
def knowledge(coach):
    return coach.knowledge


@pytest.fixture(scope="session")
def store(coach):
    return coach.retrieval


@pytest.fixture
def fake_model(coach):
    from bot.models import get_model, reset_breakers

    reset_breakers()
    model = get_model("fake", coach.settings)
    model.chat.clear()
    yield model
    model.chat.clear()


@pytest.fixture
def tmp_home(tmp_path, monkeypatch):
    monkeypatch.setenv("BOT_HOME", str(tmp_path))
    return tmp_path


def launch_app(coach, accounts: str | None = None, **settings):
    """The app in this process on a free loopback port, with the BOT_AUTH-style `accounts` and the coach's
    settings changed by `settings` while it is built (guards and tabs read them then). Returns (demo, port)."""
    import dataclasses

    from bot.config import parse_auth
    from bot.ui import build_app

    original = coach.settings
    coach.settings = dataclasses.replace(original, **settings)
    try:
        demo = build_app(coach)
    finally:
        coach.settings = original
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_port=port, server_name="127.0.0.1", quiet=True,
                auth=parse_auth(accounts))
    return demo, port


@pytest.fixture(scope="module")
def app_url(coach):
    """The Gradio app in this process on a free loopback port."""
    from bot.ui import build_app

    demo = build_app(coach)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_port=port, server_name="127.0.0.1", quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(autouse=True)
def _clean_model_breakers():
    """Each test starts with no endpoint switched off by another test's failures."""
    from bot.models import reset_breakers

    reset_breakers()
    yield
