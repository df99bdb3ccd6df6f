"""Generate answers with a local model. One required method, `stream`; a full answer is its join."""

from __future__ import annotations

import os
import threading
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

from ragapp.prompts import AnswerShape

Message = dict[str, str]


class Generator(Protocol):
    """What the pipeline needs from a chat model."""

    name: str
    context_size: int

    def stream(self, messages: Sequence[Message], max_tokens: int, shape: AnswerShape | None = None) -> Iterator[str]:
        """Yield the answer piece by piece as the model writes it ("Sentence. [n]"), held to the
        shape if given."""

    def count_tokens(self, text: str) -> int:
        """Length of the text in the model's own tokens (keeps prompts inside the context)."""


def generate(generator: Generator, messages: Sequence[Message], max_tokens: int, shape: AnswerShape | None = None) -> str:
    """The whole answer at once."""
    return "".join(generator.stream(messages, max_tokens, shape))


@dataclass(frozen=True)
class GrammarShape:
    """An answer's shape given as GBNF text, as a client of `ragapp serve`'s model route sends it
    (the in-process model reads only a shape's grammar)."""

    grammar: str


class Cancelled(Exception):
    """The person who asked has gone (a closed tab, a client that disconnected): stop, free the model."""


class FairQueue:
    """The one model, taken in turns: first come, first served, and each waiting question knows
    how many are ahead of it. (A plain lock lets any waiter in next, so one question could wait
    through many others.)"""

    def __init__(self, slots: int = 1) -> None:
        self._changed = threading.Condition()
        self._waiting: deque[object] = deque()  # the first `slots` hold the model
        self.slots = slots  # questions the model takes at once (a model server that batches: more)

    @contextmanager
    def turn(self, on_wait: Callable[[int], None] | None = None, cancelled: threading.Event | None = None) -> Iterator[None]:
        """Hold the model for the block. on_wait(n) hears how many are ahead, whenever that changes;
        when cancelled is set while waiting, Cancelled is raised and the place is given up at once."""
        ticket = object()
        with self._changed:
            self._waiting.append(ticket)
        try:
            told = 0
            while True:
                if cancelled is not None and cancelled.is_set():
                    raise Cancelled()
                with self._changed:
                    ahead = self._waiting.index(ticket) - max(1, self.slots) + 1
                    if ahead <= 0:
                        break
                    if ahead == told:
                        self._changed.wait(timeout=1.0 if cancelled is None else 0.05)
                        continue
                told = ahead
                if on_wait:
                    on_wait(ahead)  # outside the lock: it may update a page, or raise to give up
            yield
        finally:
            # Also when the waiter gives up (a closed browser tab): its place is freed for the rest.
            with self._changed:
                self._waiting.remove(ticket)
                self._changed.notify_all()

    def __len__(self) -> int:
        with self._changed:
            return len(self._waiting)


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
        self.threads = threads  # as configured (0: every core); see set_threads
        # A Llama object holds one KV cache: two concurrent generations would corrupt each other.
        self._lock = threading.Lock()
        self._grammars: dict[str, object] = {}
        self._threads_now = threads or os.cpu_count() or 1

    def stream(self, messages: Sequence[Message], max_tokens: int, shape: AnswerShape | None = None) -> Iterator[str]:
        compiled = self._grammar(shape.grammar) if shape else None
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

    def set_threads(self, threads: int) -> None:
        """Threads for the next generations (see ragapp/cpu.py: fewer while other processes are busy)."""
        import llama_cpp

        with self._lock:
            if threads != self._threads_now:
                llama_cpp.llama_set_n_threads(self._llm._ctx.ctx, threads, threads)
                self._threads_now = threads

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
