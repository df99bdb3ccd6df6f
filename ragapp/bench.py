"""`ragapp bench PATH`: ingest, retrieval and generation speed, each beside its bare baseline."""

from __future__ import annotations

import math
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Sequence, TextIO

from ragapp.documents import Document, Page, Passage, content_hash, passage_id
from ragapp.embedder import Embedder
from ragapp.models import resolve_llm
from ragapp.pipeline import Pipeline
from ragapp.prompts import answer_grammar, build_messages
from ragapp.retriever import retrieve
from ragapp.settings import Settings
from ragapp.splitter import split_sentences


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _raw_embedding_rate(embedder: Embedder, texts: list[str], batch_size: int) -> float:
    started = time.perf_counter()
    for at in range(0, len(texts), batch_size):
        embedder.embed_batch(texts[at : at + batch_size])
    return len(texts) / (time.perf_counter() - started)


def run_bench(
    path: Path,
    settings: Settings,
    queries: int = 50,
    generations: int = 3,
    out: TextIO | None = None,
    scales: Sequence[int] = (),
) -> dict:
    """Measure on the documents under path, in a temporary store; print and return the numbers.

    scales: also time retrieval over stores of this many generated passages (see _bench_scale).
    """

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
            retrieve(question, embedder, store, settings.top_k, mode=settings.retrieval, reranker=pipeline.reranker)
            latencies.append((time.perf_counter() - started) * 1000)
        results["retrieval"] = {
            "mode": settings.retrieval,
            "reranker": pipeline.reranker.name if pipeline.reranker else None,
            "queries": len(latencies),
            "passages_in_store": store.count(),
            "p50_ms": round(statistics.median(latencies), 2),
            "p95_ms": round(_percentile(latencies, 0.95), 2),
        }
        say(f"retrieval ({settings.retrieval}{', reranked' if pipeline.reranker else ''}) over {store.count()} passages: p50 {results['retrieval']['p50_ms']} ms, p95 {results['retrieval']['p95_ms']} ms")

        if scales:
            results["retrieval_at_scale"] = _bench_scale(pipeline, passages, questions, scales, Path(tmp), say)
        if generations > 0:
            results["generation"] = _bench_generation(pipeline, questions[0], generations, say)
    return results


GENERATED_PER_DOCUMENT = 500


def _bench_scale(pipeline: Pipeline, passages: list, questions: list[str], scales: Sequence[int], tmp: Path, say) -> list[dict]:
    """Retrieval latency over stores of N generated passages, for each N in scales.

    Embedding 100,000 passages would take over an hour here, so the passages are generated from
    the real ones: each joins 2-4 sentences of random real passages, and its vector is the mean of
    theirs plus noise, normalised. Texts keep real word statistics (BM25 posting lists grow with
    N) and vectors stay clustered like real ones. The questions, their embedding and the whole
    hybrid search are real; one store is grown from the smallest size to the largest.
    """
    settings = pipeline.settings
    rng = random.Random(1)
    scaled = Pipeline(settings.replace(store_dir=tmp / "scaled"), embedder=pipeline.embedder)
    target = scaled.store("scaled")
    vectors = pipeline.store().vectors([p.id for p in passages])
    sentences = [(p.id, s) for p in passages for s in split_sentences(p.text) if len(s.split()) >= 4]
    dim = len(next(iter(vectors.values())))
    results: list[dict] = []
    made = 0
    for size in sorted(scales):
        started = time.perf_counter()
        while made < size:
            count = min(GENERATED_PER_DOCUMENT, size - made)
            document, generated, generated_vectors = _generated_document(made, count, sentences, vectors, dim, rng)
            target.replace_document(document, generated, generated_vectors)
            made += count
        build_s = time.perf_counter() - started
        latencies = []
        for question in questions:
            started = time.perf_counter()
            retrieve(question, scaled.embedder, target, settings.top_k, mode=settings.retrieval, reranker=pipeline.reranker)
            latencies.append((time.perf_counter() - started) * 1000)
        row = {
            "passages": target.count(),
            "queries": len(latencies),
            "p50_ms": round(statistics.median(latencies), 2),
            "p95_ms": round(_percentile(latencies, 0.95), 2),
            "added_in_s": round(build_s, 1),
        }
        results.append(row)
        say(f"retrieval over {row['passages']} generated passages: p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms")
    if len(results) > 1 and results[0]["p50_ms"]:
        say(
            f"p50 grows {results[-1]['p50_ms'] / results[0]['p50_ms']:.2f}x from {results[0]['passages']} "
            f"to {results[-1]['passages']} passages"
        )
    return results


def _generated_document(number: int, count: int, sentences: list, vectors: dict, dim: int, rng: random.Random):
    """One generated document of `count` passages (see _bench_scale), with their vectors."""
    source = f"generated/doc-{number // GENERATED_PER_DOCUMENT:05d}.md"
    path = f"/generated/{source}"
    texts, generated_vectors = [], []
    for _ in range(count):
        picked = [rng.choice(sentences) for _ in range(rng.randint(2, 4))]
        texts.append(" ".join(sentence for _, sentence in picked))
        mean = [sum(vectors[pid][i] for pid, _ in picked) / len(picked) + rng.gauss(0, 0.02) for i in range(dim)]
        norm = math.sqrt(sum(x * x for x in mean)) or 1.0
        generated_vectors.append([x / norm for x in mean])
    body = "\n\n".join(texts)
    digest = content_hash(body.encode())
    document = Document(path, source, f"Generated {number}", "markdown", digest, (Page(None, body),))
    generated, at = [], 0
    for index, text in enumerate(texts):
        start = body.index(text, at)
        at = start + len(text)
        generated.append(
            Passage(
                id=passage_id(document.doc_id, digest, None, start, text), doc_id=document.doc_id, text=text,
                source=source, path=path, title=document.title, page=None, start=start, end=at,
                content_hash=digest, index=index,
            )
        )
    return document, generated, generated_vectors


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
