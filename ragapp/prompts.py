"""Build the prompt: numbered passages inside a token budget, and the rules for answering."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from ragapp.documents import Hit

REFUSAL = "The documents don't contain this."

SYSTEM = (
    "Answer the question in one sentence using only the passages. "
    "Cite the passage number like [1]. "
    f"If the passages do not say, reply: {REFUSAL}"
)

# For the model's one sentence after the quoted answer: a short prompt of the quoted sentences only.
QUOTES_SYSTEM = (
    "Answer the question in one short sentence using only the quotes. "
    "Cite the quote's number like [1]. "
    f"If the quotes do not say, reply: {REFUSAL}"
)

# Tokens the chat template adds around each message; a safe over-estimate for common templates.
TEMPLATE_OVERHEAD_TOKENS = 16


def format_passage(n: int, hit: Hit) -> str:
    # The file name is left out on purpose: small models answer "the document is in FILE" instead
    # of answering. The app shows the file and page of each citation itself.
    return f"[{n}] {hit.passage.text}"


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


def passage_block(n: int, text: str) -> str:
    """A whole passage as quote_messages shows it, numbered as its quotes."""
    return f"\n\nPassage [{n}]:\n{text}"


def quote_messages(question: str, quotes, sentences: int = 1, passages: Sequence[tuple[int, str]] = ()) -> list[dict[str, str]]:
    """Chat messages asking for one sentence (or up to `sentences`) on the quoted sentences,
    numbered as their passages; `passages` ((n, text) of the passages they come from) are shown
    too, for a model able to join what they say (a model server's)."""
    lines = "\n".join(f"[{q.n}] {q.sentence}" for q in quotes)
    question = question.strip()
    system = QUOTES_SYSTEM
    if sentences > 1:
        system = system.replace("in one short sentence", f"in at most {sentences} short sentences, each citing its quote,")
    context = "".join(passage_block(n, text) for n, text in passages)
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": f"Question: {question}{context}\n\nQuotes:\n{lines}\n\nQuestion: {question}"},
    ]


def _user_message(passages: str, question: str) -> str:
    # The question comes before the passages (so they are read with it in mind) and again after
    # them (so it is fresh when the answer starts); small models answer far better this way.
    question = question.strip()
    return f"Question: {question}\n\nPassages:\n\n{passages}\n\nQuestion: {question}"


def answer_grammar(passages: int, max_sentences: int = 2) -> str:
    """GBNF for llama.cpp: the exact refusal, or sentences that each end citing a shown passage.

    Citations are then always parseable and can only name passages that exist. A sentence ends
    at its first full stop (a stop between digits, as in 0.23, does not count) and must be
    followed by its citation.
    """
    numbers = " | ".join(f'"{n}"' for n in range(1, passages + 1))
    more = f'(" " claim){{0,{max_sentences - 1}}}' if max_sentences > 1 else ""
    return (
        f'root ::= refusal | answer\n'
        f'refusal ::= "{REFUSAL}"\n'
        f"answer ::= claim {more}\n"
        f'claim ::= [A-Z] char{{1,300}} "." " [" number "]"\n'
        f'char ::= [^.\\[\\]\\n] | [0-9] "." [0-9]\n'
        f"number ::= {numbers}\n"
    )


@dataclass(frozen=True)
class AnswerShape:
    """What the model may write: up to max_sentences sentences, each citing one of the passages
    shown (1..passages), or the refusal. Each backend is held to it in the form it accepts: a GBNF
    grammar (llama.cpp, vLLM) or a JSON schema (Ollama, other OpenAI-compatible servers)."""

    passages: int
    max_sentences: int = 1

    @property
    def grammar(self) -> str:
        return answer_grammar(self.passages, self.max_sentences)

    @property
    def json_schema(self) -> dict:
        return {
            "type": "object",
            "properties": {
                "sentences": {
                    "type": "array",
                    "maxItems": self.max_sentences,
                    "items": {
                        "type": "object",
                        "properties": {
                            "text": {"type": "string", "maxLength": 300},
                            "cites": {"type": "integer", "enum": list(range(1, self.passages + 1))},
                        },
                        "required": ["text", "cites"],
                        "additionalProperties": False,
                    },
                },
            },
            "required": ["sentences"],
            "additionalProperties": False,
        }


# One finished {"text": ..., "cites": n} item of a JSON answer, however the server spaces it.
_JSON_SENTENCE = re.compile(r'\{\s*"text"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"cites"\s*:\s*(\d+)\s*\}')


def sentences_from_json(text: str) -> str:
    """The finished sentences of a (possibly still growing) JSON answer as "Sentence. [n]" text,
    the form every other backend writes; an empty list is the refusal. Whatever the server sent
    that is not such an item is dropped: the verifier judges what is left."""
    pieces = []
    for match in _JSON_SENTENCE.finditer(text):
        try:
            sentence = json.loads(match.group(1)).strip()
        except ValueError:
            continue
        if sentence:
            sentence = sentence if sentence.endswith((".", "!", "?")) else sentence + "."
            pieces.append(f"{sentence} [{match.group(2)}]")
    if not pieces and re.search(r'"sentences"\s*:\s*\[\s*\]', text):
        return REFUSAL
    return " ".join(pieces)


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


# What small models put before the answer itself ("The answer to the question is: ...").
_PREAMBLE = re.compile(
    r"^\s*(?:(?:the\s+)?answer(?:\s+to\s+(?:this|the|your)\s+question)?(?:\s+is)?|quotes?|according to the quotes?)\s*:\s*",
    re.IGNORECASE,
)


def without_preamble(text: str) -> str:
    """The model's sentence without a lead-in such as "The answer to the question is:"."""
    stripped = _PREAMBLE.sub("", text, count=1)
    return stripped[:1].upper() + stripped[1:] if stripped != text else text


_FOLD = re.compile(r"[^a-z ]+")


def is_refusal(text: str) -> bool:
    """Whether the model said the documents don't hold the answer (or said nothing)."""
    folded = " ".join(_FOLD.sub(" ", text.lower().replace("'", "")).split())
    if not folded:
        return True
    markers = ("documents dont contain", "documents do not contain", "passages dont contain", "passages do not contain")
    return any(marker in folded for marker in markers)
