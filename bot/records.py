"""Reading the JSON / JSON Lines inputs of `bot grade` and `bot estimate`, with errors that name the line."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator


@dataclass(frozen=True)
class Record:
    line: int
    data: dict | None
    error: str | None = None

    @property
    def id(self) -> Any:
        return self.data.get("id") if isinstance(self.data, dict) else None


def read_json_lines(text: str) -> Iterator[Record]:
    """One Record per non-blank line; a line that is not a JSON object gets an error naming it."""
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield Record(number, None, f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(data, dict):
            yield Record(number, None, f"line {number}: each line must be a JSON object, got {type(data).__name__}")
            continue
        yield Record(number, data)


def read_json_documents(text: str) -> list[Record]:
    """A single JSON object, a JSON array of objects, or JSON Lines."""
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            whole = json.loads(stripped)
        except json.JSONDecodeError:
            whole = None
        if isinstance(whole, dict):
            return [Record(1, whole)]
        if isinstance(whole, list):
            return [Record(1, item) if isinstance(item, dict) else
                    Record(1, None, f"item {i + 1}: each item must be a JSON object") for i, item in enumerate(whole)]
    return list(read_json_lines(text))


def field_error(line: int, field: str, problem: str) -> str:
    return f"line {line}: '{field}' {problem}"
