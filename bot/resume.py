"""Resume bullets from what the candidate described doing, rewritten as bullets: an action verb in the past tense,
the tool and scope in their own words, and a placeholder for the measured result. Only clauses read as described
practice whose verb is an accomplishment ("we version datasets with DVC", "our CI blocks the merge", "our data is
versioned with DVC"); never hedges, proposals, admissions ("we judge releases on accuracy only", "we only look at
the overall metric") or fragments; none when nothing qualifies."""
from __future__ import annotations

import re

from bot.reading import classify, content_stems, is_manual

# Verbs that describe building or running something, in their base form, with the past tense where irregular.
ACTIONS = {
    "add": None, "alert": None, "audit": None, "automate": None, "autoscale": None, "backfill": None,
    "benchmark": None, "block": None, "build": "Built", "cache": None, "catch": "Caught", "check": None,
    "compare": None, "compute": None, "containerise": None, "containerize": None, "create": None, "cut": "Cut",
    "deploy": None, "design": None, "document": None, "encrypt": None, "enforce": None, "gate": None,
    "implement": None, "instrument": None, "introduce": None, "join": None, "label": None, "lead": "Led",
    "load-test": None, "lock": None, "log": None, "maintain": None, "mask": None, "measure": None,
    "migrate": None, "monitor": None, "move": None, "own": None, "page": None, "pin": None, "profile": None,
    "package": None, "promote": None, "publish": None, "put": "Put", "serve": None, "wrap": None, "quarantine": None, "record": None, "reduce": None, "register": None,
    "replace": None, "retrain": None, "review": None, "roll": None, "run": "Ran", "schedule": None,
    "scale": None, "set": "Set", "ship": None, "sign": None, "snapshot": "Snapshotted", "split": "Split", "store": None,
    "tag": None, "test": None, "track": None, "train": None, "validate": None, "version": None, "write": "Wrote",
}
IRREGULAR_PAST = {past.lower(): base for base, past in ACTIONS.items() if past}
LEAD_IN = re.compile(r"^(?:(?:and|so|but|also|then|plus|honestly|basically|actually|well|ok|okay|yeah|now|"
                     r"today|currently|right now|at my (?:last|current|previous) (?:job|company|place)|"
                     r"where i work|in my (?:last|current|previous) (?:job|role|team)|"
                     r"what (?:we|i) (?:do|did) (?:now|today)|for us|in our case|at my company)\b[,:]?\s*)+", re.I)
SUBJECT = re.compile(r"^(?:we|i|our team|the team|my team)\s+(?:also\s+|now\s+|all\s+|just\s+|already\s+|"
                     r"still\s+|really\s+|actually\s+|do\s+|did\s+)?(\S+)\s+(.+)$", re.I)
# "our CI blocks the merge ..." and "our training data is versioned with DVC ..."
OUR_ACTIVE = re.compile(r"^(?:our|my team's|the team's)\s+((?:[\w-]+\s+){0,3}?)([a-z-]+?)e?s\s+(.+)$", re.I)
OUR_PASSIVE = re.compile(r"^(?:our|my team's|the team's)\s+((?:[\w-]+\s+){0,3}?)(?:is|are|was|were|gets|get)\s+"
                         r"(?:all\s+|also\s+|now\s+)?([a-z-]+?)(?:ed|d)\s+(.+)$", re.I)
NOUN_THEN_VERB = re.compile(r"^(?:have|has|had|are|is|was|were|do|does|did|contain|contains|include|includes)\b", re.I)
# "every training run is logged in MLflow ..." (after a frame such as "What we do now:")
PASSIVE = re.compile(r"^((?:every|each|all)\s+)((?:[\w-]+\s+){0,3}?)(?:is|are|gets|get)\s+(?:all\s+|also\s+|now\s+|"
                     r"automatically\s+)?([a-z-]+?)(?:ed|d)\s+(.+)$", re.I)
WHAT_WE_HAVE = re.compile(r"^what (?:we|i|our team) (?:do |did )?(?:have|had|run|ran|built) (?:is|are|was|were)\s+(.+)$", re.I)
# Where a bullet can end before a manual step ("... on a monthly schedule that someone triggers by hand").
TAIL = re.compile(r",\s+|\s+(?=(?:that|which|who|where|when|after|once|and|but|then)\s)", re.I)
# Where a second clause with its own subject starts ("... with Helm to one cluster and the rollout is just a rolling
# update, someone watches Grafana afterwards"): a bullet is the first accomplishment only.
NEW_SUBJECT = re.compile(r"(?:,|\s+and)\s+(?=(?:someone|somebody|a person|nobody|no one)\b|(?:the|a|an|our|it|this|that)\s+"
                         r"(?:[\w-]+\s+){0,4}?(?:is|are|was|were|has|have|had|gets|got)\b)", re.I)
# A clause that states a limit is an admission, not an accomplishment ("we only look at the overall metric", "I
# check the accuracy sometimes when the business complains", "the same Airflow code that we change in place", "a
# plain Helm upgrade to one cluster, no canary", "we roll out fully and roll back by moving the alias" after "we don't
# do shadow deployments": session-13 walk-through; "we deploy all at once with Helm" after "we don't do canary":
# session 14).
LIMITATION = re.compile(r"\b(?:only|sometimes|occasionally|now and then|when (?:i|we) remember|when (?:the )?"
                        r"(?:business|someone|somebody|a customer|customers|users?|stakeholders?) (?:complains?|asks?)"
                        r"|(?:change|changes|changed|edit|edits|edited|overwrite|overwrites) (?:\w+ )?in place"
                        r"|just (?:trust|hope|rerun|eyeball|look|check)|plain|,\s+(?:no|without)\s+\w+"
                        r"|roll(?:s|ed)? (?:it |them )?out (?:fully|to everyone|everything|all at once)|big[- ]bang"
                        r"|(?:all|everything) at once)\b", re.I)
RESULT = " - result: [measured impact, e.g. incidents, hours or cost before and after]"


def _base(word: str) -> str | None:
    """The action verb a word stands for ("versioned", "logs", "ran" -> "version", "log", "run"), or None."""
    low = word.lower()
    if low in ACTIONS:
        return low
    if low in IRREGULAR_PAST:
        return IRREGULAR_PAST[low]
    for suffix, add in (("ied", "y"), ("ed", ""), ("ed", "e"), ("d", ""), ("es", ""), ("s", "")):
        if low.endswith(suffix):
            stem = low[: -len(suffix)] + add
            if stem in ACTIONS:
                return stem
            if len(stem) > 2 and stem[-1] == stem[-2] and stem[:-1] in ACTIONS:  # logged -> log
                return stem[:-1]
    return None


def past_tense(verb: str) -> str:
    if ACTIONS.get(verb):
        return ACTIONS[verb]
    if verb.endswith("e"):
        return (verb + "d").capitalize()
    if re.search(r"[^aeiou]y$", verb):
        return (verb[:-1] + "ied").capitalize()
    if re.fullmatch(r"[^aeiou]*[aeiou][bdglmnprt]", verb):  # log -> logged, tag -> tagged, pin -> pinned
        return (verb + verb[-1] + "ed").capitalize()
    return (verb + "ed").capitalize()


def _without_manual_step(text: str) -> str:
    """The clause up to the manual step it describes, or "" when the manual step is the clause itself: a bullet
    advertises what was built, never the step a person still does by hand."""
    if not is_manual(text):
        return text
    cuts = [m.start() for m in TAIL.finditer(text)]
    kept = [text[:c].rstrip(" ,") for c in cuts if not is_manual(text[:c])]
    return kept[-1] if kept else ""


def bullet(quote: str) -> str | None:
    """One practice clause as a bullet, or None when it does not make one."""
    if classify(quote) != "practice" or LIMITATION.search(quote):
        return None
    text = _without_manual_step(LEAD_IN.sub("", quote.strip().rstrip(".;:,")).strip())
    text = NEW_SUBJECT.split(text, maxsplit=1)[0].rstrip(" ,")
    if not text:
        return None
    if len(content_stems(text)) < 3 or len(text) > 240:
        return None
    have = WHAT_WE_HAVE.match(text)
    if have:  # "what we do have is pytest unit tests in CI" -> "Maintained pytest unit tests in CI"
        return f"Maintained {have.group(1)}" + RESULT
    passive = OUR_PASSIVE.match(text)
    if passive and _base(passive.group(2) + "ed"):  # "our data is versioned with DVC" -> "Versioned data with DVC"
        thing, verb, rest = passive.groups()
        return f"{past_tense(_base(verb + 'ed'))} {thing.strip()} {rest}" + RESULT
    every = PASSIVE.match(text)
    if every and _base(every.group(3) + "ed"):  # "every training run is logged in MLflow" -> "Logged every ..."
        quantifier, thing, verb, rest = every.groups()
        return f"{past_tense(_base(verb + 'ed'))} {quantifier.lower()}{thing.strip()} {rest}" + RESULT
    active = OUR_ACTIVE.match(text)
    if active and NOUN_THEN_VERB.match(active.group(3)):
        return None  # "our prediction logs have the request id": "logs" is a noun, the clause no accomplishment
    if active and _base(active.group(2) + "s"):  # "our CI blocks the merge" -> "Set up CI that blocks the merge"
        thing, _, rest = active.groups()
        verb = text.split()[len(thing.split()) + 1]
        if _base(verb) == "run" and re.match(r"(?:in|on)\s", rest, re.I):
            # "our model runs in a Docker container on one EC2 machine" -> "Ran the model in a Docker container ..."
            return f"Ran the {thing.strip()} {rest}" + RESULT
        return f"Set up {thing}that {verb} {rest}" + RESULT
    first = SUBJECT.match(text)
    verb = _base(first.group(1)) if first else None
    if verb is None:
        return None
    return f"{past_tense(verb)} {first.group(2)}" + RESULT


def resume_bullets(practice: list[tuple[str, str]], limit: int = 5) -> list[str]:
    """`practice`: (capability label, quote of described practice) pairs, best first; at most two a capability."""
    out, seen, per = [], set(), {}
    for label, quote in practice:
        made = bullet(quote)
        if made and made.lower() not in seen and per.get(label, 0) < 2:
            seen.add(made.lower())
            per[label] = per.get(label, 0) + 1
            out.append(f"{label}: {made}")
        if len(out) >= limit:
            break
    return out
