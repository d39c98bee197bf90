"""Versioned prompt files in `prompts/`: `--- system` / `--- user` sections with {{placeholders}}."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.config import load_settings
from bot.guards import clean_text

PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
ANSWER_FENCE = re.compile(r"<<<\s*ANSWER|ANSWER\s*>>>", re.IGNORECASE)
FENCE_MARKS = re.compile(r"[<>](?:\s*[<>]){2,}")


class PromptError(ValueError):
    pass


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    system: str
    user: str
    path: Path

    @property
    def variables(self) -> set[str]:
        return set(PLACEHOLDER.findall(self.system)) | set(PLACEHOLDER.findall(self.user))

    def render(self, **values: object) -> tuple[str, str]:
        missing = self.variables - values.keys()
        if missing:
            raise PromptError(f"{self.path}: missing value for {', '.join(sorted(missing))}")

        def fill(text: str) -> str:
            return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)

        return fill(self.system), fill(self.user)


def quote_answer(answer: str) -> str:
    """Neutralise anything in the candidate's text that could close the data fence.

    The text is normalised first (NFKC, invisible characters removed), so fullwidth or zero-width variants of
    `ANSWER>>>` are caught too, and every run of three angle brackets goes, whatever word precedes it."""
    text = ANSWER_FENCE.sub("[fence removed]", clean_text(answer or ""))
    return FENCE_MARKS.sub("[fence removed]", text)


@lru_cache(maxsize=32)
def _parse(path: Path) -> Prompt:
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition("--- system\n")
    system, sep, user = rest.partition("--- user\n")
    match = re.search(r"^version:\s*(\S+)", head, re.MULTILINE)
    if not sep or not match:
        raise PromptError(f"{path}: needs a 'version:' line, a '--- system' and a '--- user' section")
    return Prompt(path.name.split(".")[0], match.group(1), system.strip(), user.strip(), path)


def load_prompt(name: str, directory: Path | None = None) -> Prompt:
    directory = Path(directory or load_settings().prompts_dir)
    candidates = sorted(directory.glob(f"{name}.v*.md"), key=lambda p: int(p.name.split(".v")[1].split(".")[0]))
    if not candidates:
        raise PromptError(f"no prompt file {name}.v*.md in {directory}")
    return _parse(candidates[-1])


def prompt_versions(directory: Path | None = None) -> dict[str, str]:
    directory = Path(directory or load_settings().prompts_dir)
    names = sorted({p.name.split(".v")[0] for p in directory.glob("*.v*.md")})
    return {n: load_prompt(n, directory).version for n in names}
