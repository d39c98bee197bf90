"""`python -m evals list | run [EVAL...] --model fake|offline|openai:<m> [--max-samples N] [--report] [--check]`.

Each run appends a JSONL record under BOT_HOME/evals/: the run spec, one event per sample, the final metrics.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from bot.coach import Coach
from bot.prompts import prompt_versions
from evals.suites import SUITES

REGISTRY = Path(__file__).parent / "registry"


@dataclass
class Context:
    coach: Coach
    model_name: str
    max_samples: int | None


def load_registry() -> dict[str, dict]:
    specs = {}
    for path in sorted(REGISTRY.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        if spec.get("kind") not in SUITES:
            raise ValueError(f"{path}: 'kind' must be one of {', '.join(SUITES)}")
        specs[spec["id"].split(".v")[0]] = spec
    return specs


def _get(metrics: dict, dotted: str):
    node = metrics
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def check(spec: dict, metrics: dict, model: str = "offline") -> list[str]:
    """Thresholds from the spec; `thresholds_by_model.<model>` overrides them for that model."""
    failures = []
    rules = {**(spec.get("thresholds") or {}), **(spec.get("thresholds_by_model", {}).get(model) or {})}
    for path, rule in rules.items():
        value = _get(metrics, path)
        if value is None:
            failures.append(f"{spec['id']}: metric {path} missing")
        elif "min" in rule and value < rule["min"]:
            failures.append(f"{spec['id']}: {path} = {value} < {rule['min']}")
        elif "max" in rule and value > rule["max"]:
            failures.append(f"{spec['id']}: {path} = {value} > {rule['max']}")
    return failures


def _git_sha() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).parent).stdout.strip() or None
    except Exception:
        return None


def _flatten(metrics: dict, prefix: str = "") -> list[tuple[str, object]]:
    rows = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _flatten(value, name + ".")
        else:
            rows.append((name, value))
    return rows


def table(spec_id: str, metrics: dict, seconds: float) -> str:
    lines = [f"== {spec_id} ({seconds:.1f} s)"]
    for name, value in _flatten(metrics):
        if ".by_kind." in f".{name}" and not name.endswith((".qwk", ".exact", ".within1", ".mae", ".signed_error",
                                                             ".n")):
            continue
        lines.append(f"  {name:<48} {value}")
    return "\n".join(lines)


def markdown(results: list[tuple[dict, dict, float, list[str]]], model: str, run_id: str) -> str:
    out = [f"# Eval report `{run_id}`", "", f"Model: `{model}` · {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", ""]
    for spec, metrics, seconds, failures in results:
        out += [f"## {spec['id']}", "", spec.get("description", "").strip(), "",
                "**Thresholds:** " + ("all met" if not failures else "; ".join(failures)), ""]
        out += ["| metric | value |", "|---|---|"]
        out += [f"| {name} | {value} |" for name, value in _flatten(metrics)]
        out.append("")
    return "\n".join(out)


def run(names: list[str], model: str, max_samples: int | None, report: bool, enforce: bool) -> int:
    registry = load_registry()
    unknown = [n for n in names if n.split(".v")[0] not in registry]
    if unknown:
        print(f"error: unknown eval(s) {', '.join(unknown)}; `python -m evals list` shows them", file=sys.stderr)
        return 2
    selected = [registry[n.split(".v")[0]] for n in names] or list(registry.values())
    coach = Coach()
    if model == "fake":
        from evals.judge import respond

        coach.model("fake").chat.responder = respond
    ctx = Context(coach, model, max_samples)
    run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    folder = coach.settings.evals_dir
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / f"{run_id}.jsonl"
    results, failures_all = [], []
    with record.open("a", encoding="utf-8") as log:
        def write(event: dict) -> None:
            log.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")
            log.flush()

        write({"type": "spec", "run_id": run_id, "model": model, "evals": [s["id"] for s in selected],
               "prompts": prompt_versions(), "knowledge": coach.knowledge.digest, "seed": "fixed per sample",
               "git": _git_sha(), "max_samples": max_samples, "started": datetime.now(timezone.utc).isoformat()})
        for spec in selected:
            if spec.get("models") and model.split(":")[0] not in spec["models"]:
                print(f"== {spec['id']}: skipped with --model {model} (it runs with {', '.join(spec['models'])} "
                      "only: no model path)")
                continue
            started = time.perf_counter()
            events, metrics = SUITES[spec["kind"]](spec, ctx)
            seconds = time.perf_counter() - started
            for event in events:
                write({"type": "sample", "eval": spec["id"], **event})
            failures = check(spec, metrics, model) if not max_samples else []
            write({"type": "metrics", "eval": spec["id"], "metrics": metrics, "seconds": round(seconds, 2),
                   "failures": failures})
            print(table(spec["id"], metrics, seconds))
            for failure in failures:
                print(f"  BELOW THRESHOLD: {failure}")
            results.append((spec, metrics, seconds, failures))
            failures_all += failures
    print(f"\nrun record: {record}")
    if report:
        path = folder / f"{run_id}.md"
        path.write_text(markdown(results, model, run_id), encoding="utf-8")
        print(f"report: {path}")
    if failures_all:
        print(f"{len(failures_all)} threshold(s) not met", file=sys.stderr)
    return 1 if (failures_all and enforce) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals", description="Offline evals of the coach.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registered evals")
    p = sub.add_parser("run", help="run evals (all by default)")
    p.add_argument("evals", nargs="*", help="eval ids, e.g. grader-agreement")
    p.add_argument("--model", default="offline", help="fake, offline or openai:<model>")
    p.add_argument("--max-samples", type=int, help="run at most N samples per eval (thresholds not enforced)")
    p.add_argument("--report", action="store_true", help="also write a Markdown report")
    p.add_argument("--check", action="store_true", help="exit 1 when a metric falls under its threshold")
    p = sub.add_parser("confusion", help="count the offline grader's scores against the human labels of the dev "
                       "split and write prompts/grader_confusion.yaml (the interview's likelihood reads it)")
    p.add_argument("--out", help="write here instead of prompts/grader_confusion.yaml")
    args = parser.parse_args(argv)
    if args.command == "confusion":
        from evals.suites import write_confusion

        print(write_confusion(Coach(), args.out))
        return 0
    if args.command == "list":
        for key, spec in load_registry().items():
            print(f"{spec['id']:<24} {spec['kind']:<18} {spec.get('description', '').strip()[:70]}")
        return 0
    return run(args.evals, args.model, args.max_samples, args.report, args.check)
