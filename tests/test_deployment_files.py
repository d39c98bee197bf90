"""The cohort deployment files (deploy/) agree with each other and with the app's settings: parsed, not run
(no Docker or nginx here)."""
from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
VARIABLE = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")


def example_env() -> dict[str, str]:
    out = {}
    for line in (DEPLOY / "cohort.env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def interpolate(value, env: dict[str, str]):
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} (a missing required one fails the test)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match):
        name, kind, arg = match.groups()
        if env.get(name):
            return env[name]
        if kind == "?":
            pytest.fail(f"compose.yaml needs {name} ({arg}), which cohort.env.example does not set")
        return arg or ""

    return VARIABLE.sub(one, value)


@pytest.fixture(scope="module")
def compose():
    return interpolate(yaml.safe_load((DEPLOY / "compose.yaml").read_text()), example_env())


def nginx_blocks(text: str) -> dict:
    """nginx.conf as nested dicts: {"http": {"upstream coach": {...}, "server": [...]}}; directives as lists."""
    tokens = re.findall(r'"[^"]*"|[{};]|[^\s{};]+', re.sub(r"#[^\n]*", "", text))
    pos = 0

    def block() -> dict:
        nonlocal pos
        out: dict = {}
        words: list[str] = []
        while pos < len(tokens):
            token = tokens[pos]
            pos += 1
            if token == "{":
                out.setdefault(" ".join(words), []).append(block())
                words = []
            elif token == "}":
                return out
            elif token == ";":
                out.setdefault(words[0], []).append(words[1:])
                words = []
            else:
                words.append(token.strip('"'))
        return out

    return block()


@pytest.fixture(scope="module")
def nginx():
    return nginx_blocks((DEPLOY / "nginx.conf").read_text())


def apps(compose) -> dict:
    return {name: s for name, s in compose["services"].items() if s.get("build")}


def test_every_replica_shares_postgres_and_chroma_and_keeps_only_a_cache_of_its_own(compose):
    replicas = apps(compose)
    assert len(replicas) >= 2
    services = compose["services"]
    for name, service in replicas.items():
        env = service["environment"]
        database = urllib.parse.urlsplit(env["BOT_DATABASE_URL"])
        chroma = urllib.parse.urlsplit(env["BOT_CHROMA_URL"])
        assert database.scheme == "postgresql" and database.hostname in services
        assert services[database.hostname]["image"].startswith("postgres:")
        assert chroma.hostname in services and services[chroma.hostname]["image"].startswith("chromadb/chroma:")
        assert env["BOT_HOST"] == "0.0.0.0" and env["BOT_AUTH"]
        assert {"postgres", "chroma"} <= set(service["depends_on"])
        (volume,) = service["volumes"]
        assert volume.endswith(":" + env["BOT_HOME"])
    volumes = [s["volumes"][0].split(":")[0] for s in replicas.values()]
    assert len(set(volumes)) == len(volumes)  # no two replicas share a BOT_HOME (Chroma's embedded files)
    assert set(replicas) <= set(services["proxy"]["depends_on"])


def test_the_chroma_image_matches_the_client(compose):
    pinned = re.search(r"^chromadb==(\S+)", (DEPLOY.parent / "constraints.txt").read_text(), re.M)[1]
    assert compose["services"]["chroma"]["image"] == f"chromadb/chroma:{pinned}"


def test_the_replica_settings_load(compose, monkeypatch):
    """What a replica reads at start: every BOT_ variable of compose.yaml passes the app's own validation."""
    from bot.config import load_settings

    env = next(iter(apps(compose).values()))["environment"]
    for key in [k for k in list(os.environ) if k.startswith(("BOT_", "OPENAI_"))]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    settings = load_settings()
    assert settings.database_url.startswith("postgresql://") and settings.chroma_url == "http://chroma:8000"
    assert settings.allowed_origins == (example_env()["PUBLIC_ORIGIN"],)
    assert settings.coaches == tuple(example_env()["BOT_COACHES"].split(","))
    assert settings.host == "0.0.0.0" and settings.port == 7860


def test_the_proxy_is_sticky_streams_unbuffered_and_serves_the_allowed_origin(compose, nginx):
    http = nginx["http"][0]
    (upstream,) = [v[0] for k, v in http.items() if k.startswith("upstream ")]
    name = next(k for k in http if k.startswith("upstream ")).split()[1]
    assert upstream["ip_hash"] == [[]]  # sticky sessions
    servers = {entry[0] for entry in upstream["server"]}
    port = next(iter(apps(compose).values()))["environment"]["BOT_PORT"]
    assert servers == {f"{app}:{port}" for app in apps(compose)}
    tls = next(s for s in http["server"] if ["443", "ssl"] in s["listen"])
    origin = urllib.parse.urlsplit(example_env()["PUBLIC_ORIGIN"])
    assert tls["server_name"] == [[origin.hostname]] and origin.scheme == "https"
    (location,) = tls["location /"]
    assert location["proxy_pass"] == [[f"http://{name}"]]
    assert ["off"] in location["proxy_buffering"]
    headers = {h[0]: h[1] for h in location["proxy_set_header"]}
    assert headers["Host"] == "$host" and headers["X-Forwarded-Proto"] == "$scheme"
    limit = tls["client_max_body_size"][0][0]
    from bot.config import load_settings

    assert int(limit.rstrip("m")) * 1_000_000 >= load_settings().max_upload_bytes


def test_the_image_carries_the_knowledge_and_prompts():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for folder in ("bot", "knowledge", "prompts"):
        assert re.search(rf"^COPY {folder} \./{folder}$", dockerfile, re.M)
    assert "BOT_KNOWLEDGE_DIR=/app/knowledge" in dockerfile and "-c constraints.txt" in dockerfile
