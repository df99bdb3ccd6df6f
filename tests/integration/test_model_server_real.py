"""Answers through a real model server: llama-cpp-python's OpenAI-compatible server (`python -m
llama_cpp.server`, its `server` extra) serving the bundled GGUF on a free loopback port, started and
stopped here."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from ragapp.documents import EXTRACTIVE, GENERATED
from ragapp.model_server import GRAMMAR, LLAMA_CPP_PYTHON, probe
from ragapp.models import resolve_llm
from ragapp.pipeline import Pipeline
from ragapp.settings import Settings
from ragapp.store.server import free_port

pytestmark = pytest.mark.integration


class LlamaServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(resolve_llm("")), "--host", "127.0.0.1",
            "--port", str(self.port), "--n_ctx", "4096", "--seed", "0", "--verbose", "False",
        ]
        # The server's threads wait passively, so it and this process's embedder share the cores.
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.process.returncode}")
            time.sleep(0.3)
        raise RuntimeError("llama_cpp.server did not start within 120 s")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@pytest.fixture(scope="module")
def llama_server():
    server = LlamaServer()
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def served(llama_server, tmp_path_factory, docs_dir, real_embedder):
    # One sentence of the model's, as in this process: the bundled model's answers compared like for like.
    settings = Settings(store_dir=tmp_path_factory.mktemp("store"), llm_url=llama_server.url, llm_timeout_s=20, model_sentences=1)
    pipeline = Pipeline(settings, embedder=real_embedder)
    pipeline.ingest([docs_dir])
    return pipeline


def test_the_probe_finds_llama_cpp_pythons_server_and_its_grammar(llama_server):
    info = probe(llama_server.url)
    assert info.kind == LLAMA_CPP_PYTHON and info.constraint == GRAMMAR
    assert info.model.endswith(".gguf")


def test_token_counts_come_from_the_servers_tokenizer(served, real_generator):
    text = "While travelling for work you may claim meals up to a daily allowance of 45 euros."
    # The server counts the start-of-text token too.
    assert abs(served.generator.count_tokens(text) - real_generator.count_tokens(text)) <= 1


def test_sample_questions_are_answered_through_the_server_with_checked_citations(served):
    paths = []
    for question, fact in (
        ("What is the daily meal allowance when travelling?", "45 euros"),
        ("How many days of paid annual leave does a full-time employee get per year?", "27 days"),
        ("Which day is the anchor day for delivery teams?", "Tuesday"),
    ):
        streamed = []
        answer = served.ask(question, on_token=streamed.append)
        assert not answer.refused and fact in answer.text and not answer.notice, answer.text
        assert "".join(streamed) == answer.text
        assert all(1 <= c.n <= len(answer.hits) for c in answer.citations)
        paths.append(answer.path)
    # The model's sentence came through the server and passed the check at least once.
    assert GENERATED in paths, paths


def test_the_server_killed_mid_answer_gives_the_message_and_the_next_question_after_a_restart_is_answered(
    llama_server, served
):
    generator = served.generator
    stream = generator.stream

    def kill_after_first_piece(*args, **kwargs):
        for i, piece in enumerate(stream(*args, **kwargs)):
            yield piece
            if i == 0:
                llama_server.kill()

    generator.stream = kill_after_first_piece
    try:
        answer = served.ask("What is the daily meal allowance when travelling?")
    finally:
        del generator.stream
    assert answer.path == EXTRACTIVE and "45 euros" in answer.text
    assert "did not answer" in answer.notice and llama_server.url in answer.notice, answer.notice

    down = served.ask("What is the daily meal allowance when travelling?")
    assert "45 euros" in down.text and "cannot be reached" in down.notice, down.notice

    llama_server.start()
    again = served.ask("What is the daily meal allowance when travelling?")
    assert "45 euros" in again.text and not again.notice and again.path == GENERATED, again.text
