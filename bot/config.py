"""One settings object, read from environment variables. Importing this module also switches off telemetry."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Must be set before gradio, gradio_client, chromadb or huggingface_hub are imported anywhere.
OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "DO_NOT_TRACK": "1",
}


def apply_offline_env() -> None:
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    # Gradio's file cache (uploads, the report downloads) lives in BOT_HOME, not in the system temp dir that every
    # Gradio app of the OS user shares; gradio reads this when it is imported.
    os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(os.environ.get("BOT_HOME") or _default_home()).expanduser()
                                                 / "gradio-cache"))


def _default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mlops-coach"


apply_offline_env()


def private_dir(path: Path) -> Path:
    """A folder only this OS user can enter (0700), created if missing; one we own is tightened if looser."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if path.stat().st_mode & 0o077 and path.stat().st_uid == os.getuid():
            path.chmod(0o700)
    except OSError:  # a read-only mount: leave it as it is
        pass
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty with mode 0600 if missing; tighten it to 0600 if it exists and is looser."""
    path = Path(path)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        try:
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
        except OSError:
            pass
    return path


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be a number, got {raw!r}") from exc


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    if raw not in choices:
        raise ValueError(f"environment variable {name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class Settings:
    home: Path
    knowledge_dir: Path
    prompts_dir: Path
    model: str
    openai_api_key: str | None
    openai_base_url: str | None
    openai_model: str
    llm_timeout: float
    llm_retries: int
    max_questions: int
    answer_token_budget: int
    max_upload_bytes: int
    host: str
    port: int
    auth: list[tuple[str, str]] | None  # each account sees only its own interviews
    concurrency: int
    seed: int | None = None  # fixed question order for reproducible interviews (BOT_SEED / --seed)
    # How structured replies are asked for: function_calling (OpenAI, Ollama), json_schema (vLLM, and llama.cpp's
    # server, which enforces it with a grammar) or json_mode; auto picks by asking the server who it is.
    llm_structured: str = "auto"
    llm_breaker_failures: int = 3     # consecutive failed calls that switch a model off for a while
    llm_breaker_cooldown: float = 120.0  # seconds before a switched-off model is tried again
    # Serving a shared server (SECURITY.md): browser origins besides the app's own (a reverse proxy's), the
    # largest request body outside uploads, work a login may run at once, the queue's length, login back-off and
    # how long a login lasts.
    allowed_origins: tuple[str, ...] = ()
    max_request_bytes: int = 2_500_000
    login_concurrency: int = 2
    queue_max: int = 256
    login_failures: int = 5
    session_hours: float = 12.0
    coaches: tuple[str, ...] = ()  # BOT_COACHES: logins that see the Cohort tab (every candidate's results)
    # Beyond one machine: where the sessions live (None: SQLite in BOT_HOME) and a shared Chroma server (None: the
    # embedded store in BOT_HOME/chroma).
    database_url: str | None = None
    chroma_url: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.home / "sessions.sqlite3"

    @property
    def chroma_dir(self) -> Path:
        return self.home / "chroma"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def evals_dir(self) -> Path:
        return self.home / "evals"

    @property
    def tiktoken_dir(self) -> Path:
        return self.home / "tiktoken"

    @property
    def downloads_dir(self) -> Path:
        return self.home / "downloads"


def parse_auth(raw: str | None) -> list[tuple[str, str]] | None:
    """BOT_AUTH: `user:password`, or several accounts separated by commas (`ana:pw1,ben:pw2`)."""
    if not raw or not raw.strip():
        return None
    accounts = []
    for number, entry in enumerate(raw.split(","), start=1):
        user, sep, password = entry.strip().partition(":")
        if not sep or not user or not password:
            raise ValueError(f"BOT_AUTH account {number} ({user or entry.strip()!r}) must look like user:password; "
                             "separate several accounts with commas")
        if any(user == known for known, _ in accounts):
            raise ValueError(f"BOT_AUTH names the user {user!r} twice")
        accounts.append((user, password))
    return accounts


def parse_coaches(raw: str | None, auth: list[tuple[str, str]] | None) -> tuple[str, ...]:
    """BOT_COACHES: logins of BOT_AUTH (comma-separated) that see every candidate's results in the Cohort tab."""
    names = tuple(dict.fromkeys(n.strip() for n in (raw or "").split(",") if n.strip()))
    if names and not auth:
        raise ValueError("BOT_COACHES names coaches, but BOT_AUTH has no logins: set BOT_AUTH=user:password,... "
                         "with those users too")
    unknown = [n for n in names if n not in {user for user, _ in auth or ()}]
    if unknown:
        raise ValueError(f"BOT_COACHES names {', '.join(map(repr, unknown))}, which BOT_AUTH does not define; "
                         "every coach needs a login in BOT_AUTH")
    return names


def parse_origins(raw: str | None) -> tuple[str, ...]:
    """BOT_ALLOWED_ORIGINS: `https://coach.example.org,https://other.example` (scheme://host[:port], no path)."""
    origins = []
    for number, entry in enumerate((raw or "").split(","), start=1):
        entry = entry.strip().rstrip("/")
        if not entry:
            continue
        scheme, sep, rest = entry.partition("://")
        if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
            raise ValueError(f"BOT_ALLOWED_ORIGINS entry {number} ({entry!r}) must look like https://host[:port]")
        origins.append(entry.lower())
    return tuple(origins)


def parse_database_url(raw: str | None) -> str | None:
    """BOT_DATABASE_URL: unset (SQLite in BOT_HOME), sqlite:///relative/path or sqlite:////absolute/path, or
    postgresql://user:password@host:5432/dbname."""
    url = (raw or "").strip()
    if not url:
        return None
    if url.startswith("postgres://"):  # the spelling Heroku and others hand out
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://") or (url.startswith("sqlite:///") and url.removeprefix("sqlite:///").strip()):
        return url
    raise ValueError(f"environment variable BOT_DATABASE_URL must be sqlite:///path/to/sessions.sqlite3 (four "
                     f"slashes for an absolute path) or postgresql://user:password@host:5432/dbname, got "
                     f"{_scheme_only(url)!r}; unset it to keep the sessions in BOT_HOME/sessions.sqlite3")


def parse_chroma_url(raw: str | None) -> str | None:
    """BOT_CHROMA_URL: a Chroma server (`chroma run --path DIR --port 8000`) as http(s)://host:port."""
    from urllib.parse import urlsplit

    url = (raw or "").strip().rstrip("/")
    if not url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
        raise ValueError(f"environment variable BOT_CHROMA_URL must look like http://host:8000 (a server started "
                         f"with `chroma run --path DIR --port 8000`), got {_scheme_only(url)!r}; unset it to keep "
                         "the knowledge in the embedded store in BOT_HOME/chroma")
    return url


def _scheme_only(url: str) -> str:
    """Enough of a bad URL to recognise it, never a password it may hold."""
    return url if "@" not in url else url.split("://", 1)[0] + "://..."


def load_settings() -> Settings:
    """Read the environment now (tests change it between calls, so nothing is cached)."""
    home = Path(os.environ.get("BOT_HOME") or _default_home()).expanduser()
    key = os.environ.get("OPENAI_API_KEY") or None
    base_url = os.environ.get("OPENAI_BASE_URL") or None
    openai_model = os.environ.get("OPENAI_MODEL") or "gpt-4o-mini"
    default_model = f"openai:{openai_model}" if (key or base_url) else "offline"
    auth = parse_auth(os.environ.get("BOT_AUTH"))
    return Settings(
        home=home,
        knowledge_dir=Path(os.environ.get("BOT_KNOWLEDGE_DIR") or PROJECT_ROOT / "knowledge"),
        prompts_dir=Path(os.environ.get("BOT_PROMPTS_DIR") or PROJECT_ROOT / "prompts"),
        model=os.environ.get("BOT_MODEL") or default_model,
        openai_api_key=key,
        openai_base_url=base_url,
        openai_model=openai_model,
        llm_timeout=_float("BOT_LLM_TIMEOUT", 30.0),
        llm_retries=_int("BOT_LLM_RETRIES", 2),
        max_questions=_int("BOT_MAX_QUESTIONS", 10),
        answer_token_budget=_int("BOT_ANSWER_TOKENS", 1500),
        max_upload_bytes=_int("BOT_MAX_UPLOAD_BYTES", 2_000_000),
        host=os.environ.get("BOT_HOST") or "127.0.0.1",
        port=_int("BOT_PORT", 7860),
        auth=auth,
        concurrency=_int("BOT_CONCURRENCY", 4),
        seed=_int("BOT_SEED", -1) if os.environ.get("BOT_SEED") else None,
        llm_structured=_choice("BOT_LLM_STRUCTURED", ("auto", "function_calling", "json_schema", "json_mode"),
                               "auto"),
        llm_breaker_failures=_int("BOT_LLM_BREAKER_FAILURES", 3),
        llm_breaker_cooldown=_float("BOT_LLM_BREAKER_COOLDOWN", 120.0),
        allowed_origins=parse_origins(os.environ.get("BOT_ALLOWED_ORIGINS")),
        max_request_bytes=_int("BOT_MAX_REQUEST_BYTES", 2_500_000),
        login_concurrency=max(1, _int("BOT_LOGIN_CONCURRENCY", 2)),
        queue_max=max(1, _int("BOT_QUEUE_MAX", 256)),
        login_failures=max(1, _int("BOT_LOGIN_FAILURES", 5)),
        session_hours=_float("BOT_SESSION_HOURS", 12.0),
        coaches=parse_coaches(os.environ.get("BOT_COACHES"), auth),
        database_url=parse_database_url(os.environ.get("BOT_DATABASE_URL")),
        chroma_url=parse_chroma_url(os.environ.get("BOT_CHROMA_URL")),
    )
