"""Build the backends from settings. Heavy imports happen here, on first use, not at import time."""

from __future__ import annotations

from pathlib import Path

from ragapp.embedder import Embedder, SentenceTransformerEmbedder, choose_precision
from ragapp.generator import Generator, LlamaCppGenerator
from ragapp.models import resolve_embed_model, resolve_llm
from ragapp.reranker import CrossEncoderReranker, Reranker
from ragapp.settings import Settings
from ragapp.store import Store, open_store


def make_embedder(settings: Settings) -> Embedder:
    return SentenceTransformerEmbedder(
        resolve_embed_model(settings.embed_model), settings.embed_batch_size, choose_precision(settings.embed_precision)
    )


def make_generator(settings: Settings) -> Generator:
    lent = lent_model(settings)
    if lent is not None:
        from ragapp.model_server import ServerGenerator

        generator = ServerGenerator(lent.url, "", lent.token, settings.llm_timeout_s, settings.context_size, settings.temperature, 1)
        generator.lent_by = lent.pid
        return generator
    if settings.llm_url:
        from ragapp.model_server import ServerGenerator

        return ServerGenerator(
            settings.llm_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout_s,
            settings.context_size, settings.temperature, settings.llm_parallel,
        )
    return LlamaCppGenerator(
        resolve_llm(settings.model_path),
        context_size=settings.context_size,
        threads=settings.threads,
        gpu_layers=settings.gpu_layers,
        temperature=settings.temperature,
    )


def lent_model(settings: Settings):
    """The model a `ragapp serve` of this store lends to the machine's other processes, when it
    serves the GGUF this process would load; None otherwise (see ragapp.lending)."""
    if settings.llm_url or not settings.share_model:
        return None
    from ragapp.lending import lender

    found = lender(settings.store_dir)
    return found if found is not None and found.model == str(resolve_llm(settings.model_path)) else None


def describe_model(settings: Settings) -> str:
    """Which chat model answers, in words: the GGUF in this process, or what the model server's
    probe found (or why it could not be probed)."""
    lent = lent_model(settings)
    if lent is not None:
        return f"{lent.model}, lent by `ragapp serve` (process {lent.pid}) at {lent.url}"
    if not settings.llm_url:
        return f"{resolve_llm(settings.model_path)} (in this process, llama-cpp-python)"
    from ragapp.model_server import ModelServerError, probe

    try:
        return probe(settings.llm_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout_s).describe()
    except ModelServerError as exc:
        return f"not answering: {exc}"


def make_reranker(settings: Settings) -> Reranker | None:
    return CrossEncoderReranker(Path(settings.reranker_path)) if settings.reranker_path else None


def make_store(settings: Settings, collection: str, embedder_name: str) -> Store:
    return open_store(settings.store_dir, collection, embedder_name, settings.chroma_place)
