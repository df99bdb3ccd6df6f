"""Generate answers with a local model. One required method, `stream`; a full answer is its join."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Iterator, Protocol, Sequence

Message = dict[str, str]


class Generator(Protocol):
    """What the pipeline needs from a chat model."""

    name: str
    context_size: int

    def stream(self, messages: Sequence[Message], max_tokens: int, grammar: str | None = None) -> Iterator[str]:
        """Yield the answer piece by piece as the model writes it, within the GBNF grammar if given."""

    def count_tokens(self, text: str) -> int:
        """Length of the text in the model's own tokens (keeps prompts inside the context)."""


def generate(generator: Generator, messages: Sequence[Message], max_tokens: int, grammar: str | None = None) -> str:
    """The whole answer at once."""
    return "".join(generator.stream(messages, max_tokens, grammar))


class LlamaCppGenerator:
    """A GGUF model through llama-cpp-python; its chat template comes from the file's metadata."""

    def __init__(
        self,
        model_path: Path,
        context_size: int = 4096,
        threads: int = 0,
        gpu_layers: int = 0,
        temperature: float = 0.1,
        seed: int = 0,
    ) -> None:
        from llama_cpp import Llama

        self.name = Path(model_path).name
        self.temperature = temperature
        self._llm = Llama(
            model_path=str(model_path),
            n_ctx=context_size,
            n_threads=threads or os.cpu_count() or 1,
            n_gpu_layers=gpu_layers,
            seed=seed,
            verbose=False,
        )
        self.context_size = self._llm.n_ctx()
        # A Llama object holds one KV cache: two concurrent generations would corrupt each other.
        self._lock = threading.Lock()
        self._grammars: dict[str, object] = {}

    def stream(self, messages: Sequence[Message], max_tokens: int, grammar: str | None = None) -> Iterator[str]:
        compiled = self._grammar(grammar) if grammar else None
        with self._lock:
            chunks = self._llm.create_chat_completion(
                messages=list(messages),
                stream=True,
                temperature=self.temperature,
                max_tokens=max_tokens,
                grammar=compiled,
            )
            for chunk in chunks:
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece

    def _grammar(self, text: str):
        from llama_cpp import LlamaGrammar

        with self._lock:
            if text not in self._grammars:
                self._grammars[text] = LlamaGrammar.from_string(text, verbose=False)
            return self._grammars[text]

    def reset_cache(self) -> None:
        """Forget the previous prompt, so the next one is processed in full (fair benchmarks)."""
        with self._lock:
            self._llm.reset()

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
