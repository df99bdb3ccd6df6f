"""`ragapp bench PATH`: ingest, retrieval and generation speed, each beside its bare baseline."""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import TextIO

from ragapp.embedder import Embedder
from ragapp.models import resolve_llm
from ragapp.pipeline import Pipeline
from ragapp.prompts import answer_grammar, build_messages
from ragapp.retriever import retrieve
from ragapp.settings import Settings


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _raw_embedding_rate(embedder: Embedder, texts: list[str], batch_size: int) -> float:
    started = time.perf_counter()
    for at in range(0, len(texts), batch_size):
        embedder.embed_batch(texts[at : at + batch_size])
    return len(texts) / (time.perf_counter() - started)


def run_bench(path: Path, settings: Settings, queries: int = 50, generations: int = 3, out: TextIO | None = None) -> dict:
    """Measure on the documents under path, in a temporary store; print and return the numbers."""

    def say(line: str) -> None:
        if out:
            print(line, file=out, flush=True)

    results: dict = {"machine": {"cpus": os.cpu_count()}}
    with tempfile.TemporaryDirectory(prefix="ragapp-bench-") as tmp:
        pipeline = Pipeline(settings.replace(store_dir=Path(tmp) / "store"))
        embedder = pipeline.embedder
        embedder.embed_batch(["warm up the embedding model"])

        say(f"ingest {path} …")
        report = pipeline.ingest([path])
        ingest_rate = report.passages / report.seconds if report.seconds else 0.0
        store = pipeline.store()
        passages = [p for record in store.documents() for p in store.passages_of(record.doc_id)]
        texts = [p.text for p in passages]
        raw_rate = _raw_embedding_rate(embedder, texts, settings.embed_batch_size)
        rerun = pipeline.ingest([path])
        results["ingest"] = {
            "files": len(report.outcomes),
            "passages": report.passages,
            "seconds": round(report.seconds, 3),
            "passages_per_s": round(ingest_rate, 2),
            "raw_embedding_passages_per_s": round(raw_rate, 2),
            "ratio_to_raw_embedding": round(ingest_rate / raw_rate, 3) if raw_rate else None,
            "rerun_unchanged_seconds": round(rerun.seconds, 3),
            "rerun_fraction_of_first": round(rerun.seconds / report.seconds, 4) if report.seconds else None,
        }
        say(
            f"ingest: {report.passages} passages in {report.seconds:.1f} s = {ingest_rate:.1f} passages/s; "
            f"raw embedding of the same passages: {raw_rate:.1f} passages/s "
            f"(ratio {results['ingest']['ratio_to_raw_embedding']}); "
            f"unchanged re-run {rerun.seconds:.2f} s"
        )
        if not passages:
            say("no passages: nothing more to measure")
            return results

        rng = random.Random(0)
        questions = [_question_from(rng.choice(passages).text) for _ in range(queries)]
        latencies = []
        for question in questions:
            started = time.perf_counter()
            retrieve(question, embedder, store, settings.top_k, mode=settings.retrieval)
            latencies.append((time.perf_counter() - started) * 1000)
        results["retrieval"] = {
            "queries": len(latencies),
            "passages_in_store": store.count(),
            "p50_ms": round(statistics.median(latencies), 2),
            "p95_ms": round(_percentile(latencies, 0.95), 2),
        }
        say(f"retrieval over {store.count()} passages: p50 {results['retrieval']['p50_ms']} ms, p95 {results['retrieval']['p95_ms']} ms")

        if generations > 0:
            results["generation"] = _bench_generation(pipeline, questions[0], generations, say)
    return results


def _question_from(text: str) -> str:
    words = text.split()
    return " ".join(words[: min(12, len(words))])


def _bench_generation(pipeline: Pipeline, question: str, runs: int, say) -> dict:
    from llama_cpp import Llama, LlamaGrammar

    settings = pipeline.settings
    generator = pipeline.generator
    hits = retrieve(question, pipeline.embedder, pipeline.store(), settings.top_k, mode=settings.retrieval)
    messages, shown = build_messages(question, hits, generator.count_tokens, generator.context_size - settings.max_answer_tokens)
    # Both sides get the same prompt and the same answer grammar, so they do the same work.
    grammar = answer_grammar(len(shown))
    bare_grammar = LlamaGrammar.from_string(grammar, verbose=False)
    bare = Llama(
        model_path=str(resolve_llm(settings.model_path)),
        n_ctx=settings.context_size,
        n_threads=settings.threads or os.cpu_count() or 1,
        n_gpu_layers=settings.gpu_layers,
        seed=0,
        verbose=False,
    )

    def ours():
        return generator.stream(messages, settings.max_answer_tokens, grammar)

    def baseline():
        chunks = bare.create_chat_completion(
            messages=messages,
            stream=True,
            temperature=settings.temperature,
            max_tokens=settings.max_answer_tokens,
            grammar=bare_grammar,
        )
        return (c["choices"][0]["delta"].get("content") or "" for c in chunks)

    measured: dict[str, list[tuple[float, float]]] = {"ragapp": [], "bare": []}
    # Alternate the two so that noise on this shared machine falls on both alike; clear each KV
    # cache first so neither reuses the previous run's prompt.
    for _ in range(runs):
        for name, run, reset in (("ragapp", ours, generator.reset_cache), ("bare", baseline, bare.reset)):
            reset()
            started = time.perf_counter()
            first = None
            pieces = []
            for piece in run():
                if first is None and piece:
                    first = time.perf_counter() - started
                pieces.append(piece)
            total = time.perf_counter() - started
            tokens = generator.count_tokens("".join(pieces))
            rate = (tokens - 1) / (total - first) if first is not None and total > first and tokens > 1 else 0.0
            measured[name].append((first or total, rate))
    prompt_tokens = sum(generator.count_tokens(m["content"]) for m in messages)
    result = {"prompt_tokens": prompt_tokens, "runs": runs}
    for name, values in measured.items():
        result[name] = {
            "first_token_s_median": round(statistics.median(v[0] for v in values), 3),
            "tokens_per_s_median": round(statistics.median(v[1] for v in values), 1),
        }
    say(
        f"generation ({prompt_tokens}-token prompt, median of {runs}): "
        f"ragapp first token {result['ragapp']['first_token_s_median']} s, {result['ragapp']['tokens_per_s_median']} tokens/s; "
        f"bare llama-cpp-python {result['bare']['first_token_s_median']} s, {result['bare']['tokens_per_s_median']} tokens/s"
    )
    return result
