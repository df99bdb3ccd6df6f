"""Turn texts into vectors. One required method, `embed_batch`; helpers build on it."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

from ragapp.cpu import BF16_FLAGS, cpu_flags

PRECISIONS = ("auto", "float32", "bf16")


class Embedder(Protocol):
    """What ingest and retrieval need from an embedding model."""

    name: str

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        """One normalised vector per text."""

    def count_tokens(self, text: str) -> int:
        """Length of the text in the model's own tokens (sizes passages to its window)."""


def embed_one(embedder: Embedder, text: str) -> list[float]:
    return embedder.embed_batch([text])[0]


def precision_of(embedder: Embedder) -> str:
    """The number format an embedder computes in ("float32", "bf16"); "" for one that does not say."""
    precision = getattr(embedder, "precision", None)
    return precision.value if precision else ""


@dataclass(frozen=True)
class Precision:
    """The number format the embedder computes in, and why it was chosen."""

    value: str  # "float32" or "bf16"
    reason: str


def choose_precision(setting: str = "auto", flags: set[str] | None = None) -> Precision:
    """bf16 where the CPU multiplies bf16 natively (measured here: 2.3x float32 on passages, the
    vectors at cosine 0.99996 of float32's), float32 elsewhere: emulated bf16 ran at 0.38x float32."""
    flags = cpu_flags() if flags is None else flags
    native = sorted(set(BF16_FLAGS) & flags)
    if setting == "float32":
        return Precision("float32", "set to float32")
    if setting == "bf16":
        if native:
            return Precision("bf16", f"set to bf16; this CPU has native BF16 ({', '.join(native)})")
        return Precision("bf16", "set to bf16, but this CPU has no native BF16: emulated, it is slower than float32")
    if setting != "auto":
        raise ValueError(f"embedding precision must be one of {', '.join(PRECISIONS)}, got {setting!r}")
    if native:
        return Precision("bf16", f"auto: this CPU has native BF16 ({', '.join(native)})")
    return Precision("float32", f"auto: this CPU has no native BF16 ({' or '.join(BF16_FLAGS)})")


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder, loaded on first use; thread-safe.

    In bf16 the model's linear layers compute in bf16 (ragapp/bf16.py) and the rest in float32:
    vectors match float32's to a cosine of 0.9999, so a store written at one precision is searched
    at the other."""

    def __init__(self, model_dir: Path, batch_size: int = 32, precision: Precision | None = None) -> None:
        model_dir = Path(model_dir)
        # The bundled model sits in a folder called "model": name it after its package instead.
        self.name = model_dir.parent.name if model_dir.name == "model" else model_dir.name
        self.model_dir = model_dir
        self.batch_size = batch_size
        self.precision = precision or Precision("float32", "set to float32")
        self._model = None
        # Neither the model nor its fast tokenizer may be used from two threads at once.
        self._lock = threading.Lock()
        # Counting tokens (to cut passages) uses a tokenizer of its own: it needs no model
        # weights, and does not wait for the model while it embeds.
        self._counter = None
        self._counter_lock = threading.Lock()

    def _loaded(self):
        # Importing sentence-transformers takes seconds: a re-run over unchanged files never pays it.
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            # The splitter measures whole texts before cutting them to size; transformers warns
            # that such a text is "longer than the maximum sequence length", which is expected.
            logging.getLogger("transformers.tokenization_utils_base").setLevel(logging.ERROR)
            # Nor should every ingest and ask print a progress bar for loading 90 MB of weights.
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()

            model = SentenceTransformer(str(self.model_dir), device="cpu", local_files_only=True)
            model.eval()  # once: _encode does not switch dropout off at each call as encode does
            if self.precision.value == "bf16":
                from ragapp.bf16 import to_bf16

                to_bf16(model)
            self._model = model
        return self._model

    def _encode(self, texts: list[str]):
        """Unit vectors of one batch: the model's own steps, as SentenceTransformer.encode takes them
        (for the same batch, the same vectors bit for bit), without the checks and the walk over every module that
        encode makes at each call. They cost a millisecond of the 5 to 9 that one question takes."""
        import torch

        model = self._loaded()
        tokenize = getattr(model, "preprocess", None) or model.tokenize  # preprocess: sentence-transformers 6
        with torch.inference_mode():
            vectors = model(tokenize(texts))["sentence_embedding"]
            return torch.nn.functional.normalize(vectors.float(), p=2, dim=1).numpy()

    def load(self) -> None:
        """Load the model now rather than on the first question."""
        with self._lock:
            self._loaded()

    @property
    def max_tokens(self) -> int:
        with self._lock:
            return int(self._loaded().max_seq_length)

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors of the texts, in order. Many texts are sorted by length (less padding) and
        embedded one batch at a time, each batch under the lock: a question asked while an upload
        embeds hundreds of passages waits for one batch, not for all of them."""
        if not texts:
            return []
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        vectors: list[list[float] | None] = [None] * len(texts)
        for at in range(0, len(order), self.batch_size):
            batch = order[at : at + self.batch_size]
            with self._lock:
                embedded = self._encode([texts[i] for i in batch])
            for i, vector in zip(batch, embedded.tolist()):
                vectors[i] = vector
        return vectors

    def set_threads(self, threads: int) -> None:
        """Torch's threads for the next embeddings (see ragapp/cpu.py). Torch's pool is one per
        process, so this is only ever lowered while other processes are busy, and raised after."""
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)

    def count_tokens(self, text: str) -> int:
        with self._counter_lock:
            if self._counter is None:
                self._counter = self._token_counter()
            return self._counter(text)

    def _token_counter(self):
        """The same count as the model's tokenizer.tokenize(), from tokenizer.json when there is one."""
        tokenizer_file = self.model_dir / "tokenizer.json"
        if tokenizer_file.is_file():
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(tokenizer_file))
            tokenizer.no_truncation()  # the model reads at most 256 tokens; counting must see all
            tokenizer.no_padding()
            if WordTokenCounter.fits(json.loads(tokenizer_file.read_text(encoding="utf-8"))):
                return WordTokenCounter(tokenizer)
            return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)

        def count(text: str) -> int:
            with self._lock:
                return len(self._loaded().tokenizer.tokenize(text))

        return count


class WordTokenCounter:
    """Token counts of a BERT-style tokenizer, added up word by word, each word's count remembered.

    Such a tokenizer cuts text into words at white space before it cuts words into tokens, so a
    text's count is the sum of its words' counts. Most of the tokenizer's time goes into cleaning
    and cutting the whole text (0.2 s of 0.23 s for the 544,000 characters of squad2-dev's
    articles); the words of a collection repeat, so counting them once each is about ten times
    as fast, which matters because the splitter measures every piece of every page it cuts."""

    # Control characters that Python counts as white space and BERT's normaliser deletes, so that
    # the words either side of one are one word to the tokenizer.
    _DELETED = str.maketrans("", "", "\x0b\x0c\x1c\x1d\x1e\x1f\x85")
    MAX_WORDS = 200_000  # words remembered before the memory is cleared

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.counts: dict[str, int] = {}

    @staticmethod
    def fits(tokenizer_json: dict) -> bool:
        """Whether the tokenizer cuts at white space first and deletes control characters: BERT's
        normaliser (with its cleaning) and pre-tokenizer, as MiniLM and its kin have."""
        normalizer = tokenizer_json.get("normalizer") or {}
        pre_tokenizer = tokenizer_json.get("pre_tokenizer") or {}
        return (
            normalizer.get("type") == "BertNormalizer"
            and normalizer.get("clean_text", True)
            and pre_tokenizer.get("type") == "BertPreTokenizer"
        )

    def __call__(self, text: str) -> int:
        counts, total, unknown = self.counts, 0, []
        for word in text.translate(self._DELETED).split():
            n = counts.get(word)
            if n is None:
                unknown.append(word)
            else:
                total += n
        if unknown:
            if len(counts) > self.MAX_WORDS:
                counts.clear()
            counts.update(self._counted(list(dict.fromkeys(unknown))))
            total += sum(counts[word] for word in unknown)
        return total

    def _counted(self, words: list[str]) -> dict[str, int]:
        """Each word's count, from one call of the tokenizer on all of them (one call per word
        costs more than the words themselves): each token belongs to the word its offset is in."""
        ends, at = [], -1
        for word in words:
            at += 1 + len(word)
            ends.append(at)  # one past the word's last character in the joined text
        found = [0] * len(words)
        i = 0
        for start, _ in self.tokenizer.encode(" ".join(words), add_special_tokens=False).offsets:
            while start >= ends[i]:
                i += 1
            found[i] += 1
        return dict(zip(words, found))
