"""Deterministic implementations of the embedder and generator protocols, for fast unit tests."""

from __future__ import annotations

import hashlib
import math
import re
from typing import Callable, Iterator, Sequence

_WORD = re.compile(r"\w+")


class HashEmbedder:
    """Bag of words hashed into a small vector: texts that share words are close."""

    name = "hash-embedder"

    def __init__(self, dim: int = 128) -> None:
        self.dim = dim
        self.embedded: list[str] = []  # every text ever embedded, to check what was re-embedded

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        self.embedded.extend(texts)
        return [self._vector(t) for t in texts]

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dim
        for word in _WORD.findall(text.lower()):
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]


class ScriptedGenerator:
    """Answers with a fixed text, or one computed from the prompt; streams it word by word."""

    name = "scripted"

    def __init__(self, reply: str | Callable[[list[dict]], str] = "An answer [1].", context_size: int = 2048) -> None:
        self.reply = reply
        self.context_size = context_size
        self.calls: list[list[dict]] = []
        self.grammars: list[str | None] = []  # the GBNF of each call's answer shape

    def stream(self, messages: Sequence[dict], max_tokens: int, shape=None) -> Iterator[str]:
        self.calls.append(list(messages))
        self.grammars.append(shape.grammar if shape else None)
        text = self.reply(list(messages)) if callable(self.reply) else self.reply
        for word in re.findall(r"\S+\s*", text):
            yield word

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))
