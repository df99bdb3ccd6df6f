"""Build the prompt: numbered passages inside a token budget, and the rules for answering."""

from __future__ import annotations

import re
from typing import Callable, Sequence

from ragapp.documents import Hit

REFUSAL = "The documents don't contain this."

SYSTEM = (
    "You answer questions using only the numbered passages given to you. "
    "After each sentence, cite the passage it comes from with its number in square brackets, like [1]. "
    f"If the passages do not answer the question, reply exactly: {REFUSAL}"
)

# Tokens the chat template adds around each message; a safe over-estimate for common templates.
TEMPLATE_OVERHEAD_TOKENS = 16


def format_passage(n: int, hit: Hit) -> str:
    return f"[{n}] ({hit.passage.location()})\n{hit.passage.text}"


def build_messages(
    question: str,
    hits: Sequence[Hit],
    count_tokens: Callable[[str], int],
    budget_tokens: int,
) -> tuple[list[dict[str, str]], list[Hit]]:
    """Chat messages holding as many of the hits, best first, as fit in the budget."""
    fixed = SYSTEM + _user_message("", question)
    used_tokens = count_tokens(fixed) + 2 * TEMPLATE_OVERHEAD_TOKENS
    included: list[Hit] = []
    blocks: list[str] = []
    for hit in hits:
        block = format_passage(len(included) + 1, hit)
        cost = count_tokens(block) + 2
        if used_tokens + cost > budget_tokens:
            break
        included.append(hit)
        blocks.append(block)
        used_tokens += cost
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": _user_message("\n\n".join(blocks), question)},
    ]
    return messages, included


def _user_message(passages: str, question: str) -> str:
    return f"Passages:\n\n{passages}\n\nQuestion: {question.strip()}"


_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def cited_numbers(text: str) -> list[int]:
    """Passage numbers cited as [n] or [n, m], in order of first appearance."""
    seen: list[int] = []
    for match in _CITATION.finditer(text):
        for number in match.group(1).split(","):
            n = int(number)
            if n not in seen:
                seen.append(n)
    return seen


_FOLD = re.compile(r"[^a-z ]+")


def is_refusal(text: str) -> bool:
    """Whether the model said the documents don't hold the answer (or said nothing)."""
    folded = " ".join(_FOLD.sub(" ", text.lower().replace("'", "")).split())
    if not folded:
        return True
    markers = ("documents dont contain", "documents do not contain", "passages dont contain", "passages do not contain")
    return any(marker in folded for marker in markers)
