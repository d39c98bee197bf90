"""Resume bullets from what the candidate described doing, rewritten as bullets: an action verb in the past tense,
the tool and scope in their own words, and a placeholder for the measured result. Never hedges, proposals or
fragments; none when nothing qualifies."""
from __future__ import annotations

import re

from bot.reading import classify, content_stems

IRREGULAR = {"run": "Ran", "build": "Built", "write": "Wrote", "keep": "Kept", "set": "Set", "put": "Put",
             "have": "Maintained", "has": "Maintained", "had": "Maintained", "do": "Ran", "get": "Got",
             "make": "Made", "lead": "Led", "send": "Sent", "split": "Split", "cut": "Cut", "own": "Owned",
             "go": "Moved", "take": "Took", "give": "Gave", "spend": "Spent", "shut": "Shut", "bring": "Brought"}
PAST = {v.lower() for v in IRREGULAR.values()} | {"built", "ran", "wrote", "kept", "led", "made", "sent", "took",
                                                  "brought", "spent", "got", "went", "did", "had"}
LEAD_IN = re.compile(r"^(?:(?:and|so|but|also|then|plus|honestly|basically|actually|well|ok|okay|yeah|now|"
                     r"today|currently|right now|at my (?:last|current|previous) (?:job|company|place)|"
                     r"where i work|in my (?:last|current|previous) (?:job|role|team))\b[,:]?\s*)+", re.I)
SUBJECT = re.compile(r"^(?:we|i|our team|the team|my team|they)\s+(?:also\s+|now\s+|all\s+|just\s+|already\s+|"
                     r"still\s+|really\s+|actually\s+|do\s+|did\s+)?", re.I)
OUR_THING = re.compile(r"^(?:our|my team's|the team's)\s+((?:[\w-]+\s+){0,3}?)([a-z]+s)\b(.*)$", re.I)
RESULT = " - result: [measured impact, e.g. incidents, hours or cost before and after]"


def past_tense(verb: str) -> str:
    low = verb.lower()
    if low in IRREGULAR:
        return IRREGULAR[low]
    if low.endswith("ed") or low in PAST:
        return low.capitalize()
    if low.endswith("e"):
        return (low + "d").capitalize()
    if re.search(r"[^aeiou]y$", low):
        return (low[:-1] + "ied").capitalize()
    if low.endswith("s") and not low.endswith("ss"):  # "runs" after "our CI": the caller handles that form
        low = low[:-1]
    if re.fullmatch(r"[^aeiou]*[aeiou][bdglmnprt]", low):  # log -> logged, tag -> tagged, pin -> pinned
        return (low + low[-1] + "ed").capitalize()
    return (low + "ed").capitalize()


def bullet(quote: str) -> str | None:
    """One practice clause as a bullet, or None when it does not make one (too thin, no first-person action)."""
    if classify(quote) != "practice":
        return None
    text = LEAD_IN.sub("", quote.strip().rstrip(".;:,")).strip()
    if len(content_stems(text)) < 3 or len(text) > 240:
        return None
    ours = OUR_THING.match(text)
    if ours:  # "our CI runs pytest on every PR" -> "Set up CI that runs pytest on every PR"
        thing, verb, rest = ours.groups()
        return f"Set up {thing}that {verb}{rest}".replace("  ", " ") + RESULT
    rest = SUBJECT.sub("", text, count=1)
    if rest == text:
        return None
    verb, _, tail = rest.partition(" ")
    if not verb.isalpha() or not tail:
        return None
    return f"{past_tense(verb)} {tail}" + RESULT


def resume_bullets(practice: list[tuple[str, str]], limit: int = 5) -> list[str]:
    """`practice`: (capability label, quote of described practice) pairs, best first."""
    out, seen = [], set()
    for label, quote in practice:
        made = bullet(quote)
        if made and made.lower() not in seen:
            seen.add(made.lower())
            out.append(f"{label}: {made}")
        if len(out) >= limit:
            break
    return out
