"""Answers through a model server that misbehaves (tests/openai_fake.py): whatever it sends, nothing
unchecked is shown, each failure ends in a clear message within the timeout, and the quoted answer
is still given."""

import json
import time

from fakes import HashEmbedder
from openai_fake import FakeServer

from ragapp.documents import EXTRACTIVE, GENERATED
from ragapp.model_server import GRAMMAR, JSON_SCHEMA, LLAMA_CPP, OLLAMA, OPENAI_COMPATIBLE, VLLM, ServerGenerator, probe
from ragapp.pipeline import Pipeline
from ragapp.prompts import AnswerShape, sentences_from_json

LEAVE_QUESTION = "How many days of paid annual leave does a full-time employee get per year?"
TRUE = "Full-time employees get 27 days of paid annual leave a year."


def _quote_number(body: dict) -> int:
    """The number the prompt gives the quote about annual leave."""
    user = body["messages"][-1]["content"]
    line = next(line for line in user.splitlines() if line.startswith("[") and "27 days" in line)
    return int(line[1:line.index("]")])


def _pipeline(settings, server: FakeServer, timeout_s: float = 2.0) -> Pipeline:
    settings = settings.replace(llm_url=server.url, llm_timeout_s=timeout_s)
    return Pipeline(settings, embedder=HashEmbedder())


def test_the_probe_tells_which_server_model_and_constraint(settings):
    with FakeServer() as plain:
        info = probe(plain.url)
        assert (info.kind, info.model, info.constraint) == (OPENAI_COMPATIBLE, "fake-7b", JSON_SCHEMA)
    props = {"default_generation_settings": {"n_ctx": 8192}, "total_slots": 4, "build_info": "b6000"}
    with FakeServer(props=props) as llama:
        info = probe(llama.url.removesuffix("/v1"))  # the base URL with or without /v1
        assert (info.kind, info.constraint, info.context_size, info.slots) == (LLAMA_CPP, GRAMMAR, 8192, 4)
        assert "llama.cpp server b6000" in info.describe() and "4 slots" in info.describe()
        pipeline = Pipeline(settings.replace(llm_url=llama.url), embedder=HashEmbedder())
        assert pipeline.generator.context_size == 8192 and pipeline.model_queue.slots == 4
        # Token counts come from the server's own tokenizer where it has one ...
        assert pipeline.generator.count_tokens("three words here") == 3
    with FakeServer() as plain:
        # ... and are over-estimated where it has none.
        assert ServerGenerator(plain.url).count_tokens("three words here") >= len("three words here") / 4


def test_each_server_gets_the_shape_the_way_it_takes_it(settings, sample_copy):
    shape = AnswerShape(3, 2)
    with FakeServer(pages={"/version": {"version": "0.13.1"}}) as vllm:
        info = probe(vllm.url)
        assert info.kind == VLLM
        assert ServerGenerator(vllm.url).body([], 80, shape, info)["structured_outputs"] == {"grammar": shape.grammar}
    with FakeServer(pages={"/version": {"version": "0.8.5"}}) as old_vllm:
        assert ServerGenerator(old_vllm.url).body([], 80, shape, probe(old_vllm.url))["guided_grammar"] == shape.grammar
    with FakeServer(pages={"/api/version": {"version": "0.12.3"}}) as ollama:
        info = probe(ollama.url)
        assert (info.kind, info.constraint) == (OLLAMA, JSON_SCHEMA)
        assert "response_format" in ServerGenerator(ollama.url).body([], 80, shape, info)
    with FakeServer(props={"default_generation_settings": {"n_ctx": 4096}}) as llama:
        body = ServerGenerator(llama.url).body([], 80, shape, probe(llama.url))
        assert body["grammar"] == shape.grammar and "response_format" not in body
    with FakeServer() as plain:
        body = ServerGenerator(plain.url).body([], 80, shape, probe(plain.url))
        schema = body["response_format"]["json_schema"]["schema"]
        assert schema["properties"]["sentences"]["items"]["properties"]["cites"]["enum"] == [1, 2, 3]


def test_a_json_answer_is_checked_sentence_by_sentence(settings, sample_copy):
    def reply(body):
        n = _quote_number(body)
        return json.dumps({"sentences": [{"text": TRUE, "cites": n},
                                         {"text": "The policy was written by Maria Lopez in 1999.", "cites": n}]})

    with FakeServer(reply) as server:
        pipeline = _pipeline(settings, server)
        pipeline.ingest([sample_copy])
        streamed = []
        answer = pipeline.ask(LEAVE_QUESTION, on_token=streamed.append)
    assert answer.path == GENERATED and TRUE in answer.text and "Maria" not in "".join(streamed)
    assert answer.withheld == 1 and "".join(streamed) == answer.text
    # A model server may write up to three sentences, and reads the passage of the quote whole.
    system, user = (m["content"] for m in server.requests[-1]["messages"])
    assert "at most 3 short sentences" in system
    assert "Passage [" in user and "27 days" in user.split("Quotes:")[0]


def test_a_server_ignoring_the_constraint_cannot_cite_a_passage_that_was_not_shown(settings, sample_copy):
    with FakeServer(f"Sure! {TRUE} [9] Also, employees get 40 days. [1]") as server:
        pipeline = _pipeline(settings, server)
        pipeline.ingest([sample_copy])
        answer = pipeline.ask(LEAVE_QUESTION)
    assert "[9]" not in answer.text and "40 days" not in answer.text
    assert all(1 <= c.n <= len(answer.hits) for c in answer.citations)
    assert "27 days" in answer.text


def test_each_failure_of_the_server_ends_in_a_clear_message_and_the_quoted_answer(settings, sample_copy):
    with FakeServer(lambda body: f"{TRUE} [{_quote_number(body)}]") as server:
        pipeline = _pipeline(settings, server, timeout_s=1.0)
        pipeline.ingest([sample_copy])
        server.stall_s = 3.0
        expected = {
            "error500": "HTTP 500: {\"error\": {\"message\": \"CUDA out of memory\"}}",
            "garbage": "not a chat stream",
            "stall": "did not answer in time",
            "stall_mid": "did not answer in time",
        }
        for mode, words in expected.items():
            server.mode = mode
            started = time.perf_counter()
            answer = pipeline.ask(LEAVE_QUESTION)
            took = time.perf_counter() - started
            assert answer.path == EXTRACTIVE and "27 days" in answer.text, mode
            assert words in answer.how_answered() and server.url in answer.notice, (mode, answer.notice)
            assert took < 2.5, (mode, took)  # the timeout (1 s), not the stall (3 s)
        server.mode = "ok"
        assert pipeline.ask(LEAVE_QUESTION).path == GENERATED  # the next question after it recovers


def test_a_server_that_is_down_gives_the_quoted_answer_with_the_reason(settings, sample_copy):
    with FakeServer() as server:
        url = server.url
    pipeline = Pipeline(settings.replace(llm_url=url, llm_timeout_s=1.0), embedder=HashEmbedder())
    pipeline.ingest([sample_copy])
    answer = pipeline.ask(LEAVE_QUESTION)
    assert answer.path == EXTRACTIVE and "27 days" in answer.text
    assert "cannot be reached" in answer.notice


def test_a_json_answer_still_growing_gives_only_its_finished_sentences():
    text = '{"sentences": [{"text": "Leave is 27 days.", "cites": 1}, {"text": "Carried-over days'
    assert sentences_from_json(text) == "Leave is 27 days. [1]"


def test_ragapp_settings_says_which_model_answers_and_hides_the_key(tmp_path, monkeypatch, capsys):
    from ragapp.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAGAPP_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("RAGAPP_CHROMA", "embedded")
    assert main(["settings"]) == 0
    assert "# chat model: " in (out := capsys.readouterr().out) and "SmolLM2" in out and "in this process" in out
    with FakeServer(props={"default_generation_settings": {"n_ctx": 8192}, "total_slots": 2}) as server:
        monkeypatch.setenv("RAGAPP_LLM_URL", server.url)
        monkeypatch.setenv("RAGAPP_LLM_API_KEY", "s3cret-key")
        assert main(["settings"]) == 0
        out = capsys.readouterr().out
    assert f"# chat model: llama.cpp server at {server.url}, model fake-7b, answers held to a GBNF grammar" in out
    assert "s3cret-key" not in out and "llm_api_key = ***" in out
    assert main(["settings"]) == 0  # the server gone: said, not a traceback
    assert f"# chat model: not answering: the model server at {server.url} did not answer" in capsys.readouterr().out
