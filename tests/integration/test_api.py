"""The HTTP API as scripts and OpenAI clients use it: a real `ragapp serve` (uvicorn) on a free
loopback port, the real bundled models, a real store, keys made with `ragapp keys`, the official
`openai` client and raw HTTP; and `ragapp mcp` through the MCP SDK's own stdio client."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
from conftest import ROOT, SAMPLE, SHARED

from integration.helpers import cli_env, run_cli
from ragapp.pipeline import Pipeline
from ragapp.settings import Settings
from ragapp.store.server import free_port

pytestmark = pytest.mark.integration

SQUAD = SHARED / "bench" / "squad2-dev"
PUBLIC_DOCS = ["Normans.md", "Steam_engine.md", "Warsaw.md"]
SECRET_DOCS = ["Harvard_University.md", "Immune_system.md", "Force.md"]
PASSWORD = "correct horse battery"
MAX_UPLOAD_MB = 0.05  # small, so that "too large" is quick to show

if not SQUAD.is_dir():
    pytest.skip(f"no question set at {SQUAD}", allow_module_level=True)


class ApiServer:
    """`ragapp serve` in its own process, as a person starts it."""

    def __init__(self, store_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = cli_env(store_dir, **env)
        self.process: subprocess.Popen | None = None

    def start(self) -> "ApiServer":
        command = [sys.executable, "-m", "ragapp.cli", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"ragapp serve exited with {self.process.returncode}: {self.process.stderr.read()}")
            time.sleep(0.3)
        raise RuntimeError("ragapp serve did not start within 180 s")

    def stop(self) -> str:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.stderr.read() if self.process else ""


@pytest.fixture(scope="module")
def team(tmp_path_factory, real_embedder):
    """A store with 'public', 'secret' (three squad2-dev articles each) and 'handbook' (the sample
    documents); ada is an admin, rita reads public only; each has a key, and there is a revoked
    key and an expired one."""
    home = tmp_path_factory.mktemp("api")
    store_dir = home / "store"
    pipeline = Pipeline(Settings(store_dir=store_dir, upload_dir=home / "uploads", model_sentence=False), embedder=real_embedder)
    for name, docs in (("public", PUBLIC_DOCS), ("secret", SECRET_DOCS)):
        (home / name).mkdir()
        for doc in docs:
            shutil.copy(SQUAD / "docs" / doc, home / name / doc)
        assert pipeline.ingest([home / name], name).count("added") == 3
    assert pipeline.ingest([SAMPLE], "handbook").count("failed") == 0
    pipeline.accounts.add("ada", "admin", PASSWORD)
    pipeline.accounts.add("rita", "reader", PASSWORD)
    pipeline.accounts.grant("rita", "public", "read")
    keys = {}
    for name in ("ada", "rita"):
        made = run_cli(["ragapp", "keys", "create", name, "--label", "tests"], store_dir)
        assert made.returncode == 0, made.stderr
        keys[name] = made.stdout.strip()
        assert keys[name].startswith("rag_") and "not shown again" in made.stderr
    revoked = run_cli(["ragapp", "keys", "create", "rita"], store_dir).stdout.strip()
    revoked_id = key_id(revoked)
    assert run_cli(["ragapp", "keys", "revoke", revoked_id], store_dir).returncode == 0
    keys["revoked"] = revoked
    keys["expired"] = run_cli(["ragapp", "keys", "create", "rita", "--expires", "0.00001"], store_dir).stdout.strip()
    listed = run_cli(["ragapp", "keys", "list"], store_dir).stdout
    assert revoked_id in listed and "\trevoked\t" in listed and "\tactive\t" in listed
    assert not any(secret in listed for secret in keys.values()), "a key is shown again"
    server = ApiServer(store_dir, RAGAPP_SIGN_IN="accounts", RAGAPP_UPLOAD_DIR=str(home / "uploads"),
                       RAGAPP_MAX_UPLOAD_MB=str(MAX_UPLOAD_MB)).start()
    public_ids = {r.doc_id for r in pipeline.store("public").documents()}
    secret_ids = {r.doc_id for r in pipeline.store("secret").documents()}
    yield {"server": server, "keys": keys, "store_dir": store_dir, "public": public_ids, "secret": secret_ids, "home": home}
    log = server.stop()
    assert "Traceback" not in log, log
    assert not (store_dir / "api-model.json").exists()  # the model is no longer lent


def key_id(key: str) -> str:
    return "_".join(key.split("_")[:2])  # "rag_" and 8 hex digits; what `ragapp keys list` shows


def client(team, who: str = "ada") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{team['server'].url}/v1", api_key=team["keys"][who], max_retries=0, timeout=120)


def post(team, path: str, who: str | None = "ada", **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {team['keys'][who]}"} if who else {}
    return httpx.post(f"{team['server'].url}{path}", headers=headers, timeout=120, **kwargs)


def get(team, path: str, who: str | None = "ada", **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {team['keys'][who]}"} if who else {}
    return httpx.get(f"{team['server'].url}{path}", headers=headers, timeout=120, **kwargs)


def assert_error(response: httpx.Response, status: int, words: str = "") -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code"} and error["message"], error
    assert "Traceback" not in response.text
    assert words in error["message"], error
    return error


# --- the official OpenAI client ---------------------------------------------------------------------


def test_openai_client_gets_a_checked_cited_answer(team):
    response = client(team).chat.completions.create(
        model="handbook", messages=[{"role": "user", "content": "What is the daily meal allowance when travelling?"}],
        temperature=0.7, top_p=0.5, n=1, user="someone", seed=3, presence_penalty=0.1,  # accepted, not used
    )
    content = response.choices[0].message.content
    assert "45 euros" in content and "[1]" in content
    assert response.choices[0].finish_reason == "stop" and response.choices[0].index == 0
    assert response.id.startswith("chatcmpl-") and response.model == "handbook"
    assert response.usage.completion_tokens > 0 and response.usage.total_tokens >= response.usage.completion_tokens
    citations = response.model_extra["citations"]
    assert citations[0]["n"] == 1 and citations[0]["source"] == "handbook/expenses.md"
    assert "45 euros" in citations[0]["text"]
    # The citation's URL opens the cited passage in its place (a Markdown file: its text, marked).
    opened = get(team, citations[0]["url"].removeprefix(team["server"].url))
    assert opened.status_code == 200 and "<mark>" in opened.text and "45 euros" in opened.text


def test_openai_client_streams_the_answer_and_the_citations_come_once_at_the_end(team):
    stream = client(team).chat.completions.create(
        model="handbook", stream=True,
        messages=[{"role": "user", "content": "How much is the learning budget per year?"}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "1,500" in text or "1500" in text
    with_citations = [c for c in chunks if (c.model_extra or {}).get("citations")]
    assert len(with_citations) == 1 and with_citations[0] is chunks[-1]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1
    citation = chunks[-1].model_extra["citations"][0]
    assert citation["source"] == "benefits-guide.pdf" and citation["page"] >= 1
    # A PDF's cited page opens as an image, with the passage highlighted.
    image = get(team, citation["url"].removeprefix(team["server"].url))
    assert image.status_code == 200 and image.headers["content-type"] == "image/png" and image.content[:4] == b"\x89PNG"


def test_a_declined_answer_says_so_streamed_or_not(team):
    question = [{"role": "user", "content": "What is the boiling point of mercury at sea level?"}]
    whole = client(team).chat.completions.create(model="handbook", messages=question)
    streamed = list(client(team).chat.completions.create(model="handbook", messages=question, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert whole.model_extra["ragapp"]["refused"] and whole.model_extra["citations"] == []
    assert text == whole.choices[0].message.content and "documents" in text
    assert streamed[-1].model_extra["citations"] == []


def test_a_follow_up_is_asked_through_the_earlier_messages(team):
    first = "How many days of paid annual leave do full-time employees get?"
    response = client(team).chat.completions.create(
        model="handbook",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": first},
            {"role": "assistant", "content": "27 days. [1]"},
            {"role": "user", "content": [{"type": "text", "text": "and can I carry them over?"}]},
        ],
    )
    searched = response.model_extra["ragapp"]["query"]
    assert "annual leave" in searched and "carry" in searched  # searched with the earlier question
    assert {c["source"] for c in response.model_extra["citations"]} == {"handbook/leave-policy.md"}


def test_models_are_the_collections_the_key_may_read(team):
    assert sorted(m.id for m in client(team, "ada").models.list()) == ["default", "handbook", "public", "secret"]
    assert [m.id for m in client(team, "rita").models.list()] == ["public"]


# --- raw HTTP ---------------------------------------------------------------------------------------


def test_ask_returns_the_json_of_ragapp_ask_and_streams_sentences_then_the_answer(team):
    question = "What is the daily meal allowance when travelling?"
    body = post(team, "/v1/ask", json={"question": question, "collection": "handbook"}).json()
    cli = run_cli(["ragapp", "ask", "--json", "--collection", "handbook", question], team["store_dir"],
                  RAGAPP_MODEL_SENTENCE="false")
    assert cli.returncode == 0, cli.stderr
    assert set(json.loads(cli.stdout)) <= set(body)
    assert body["refused"] is False and "45 euros" in body["answer"] and body["citations"][0]["url"]
    # Filters as on the command line: only PDFs, where the allowance is not written.
    filtered = post(team, "/v1/ask", json={"question": question, "collection": "handbook", "filters": ["type=pdf"]}).json()
    assert all(c["source"].endswith(".pdf") for c in filtered["citations"] + filtered["related"])
    with httpx.stream("POST", f"{team['server'].url}/v1/ask", json={"question": question, "collection": "handbook", "stream": True},
                      headers={"Authorization": f"Bearer {team['keys']['ada']}"}, timeout=120) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line.removeprefix("event: ") for line in response.iter_lines() if line.startswith("event: ")]
    assert events[0] == "sentence" and events[-1] == "answer" and set(events) == {"sentence", "answer"}


def test_upload_search_and_delete_a_document(team):
    note = b"# Plants\n\nThe office ficus is watered every Thursday morning by the facilities team."
    uploaded = post(team, "/v1/documents", files=[("files", ("plants.md", note))], data={"collection": "handbook"})
    assert uploaded.status_code == 200, uploaded.text
    outcome = uploaded.json()["files"][0]
    assert outcome["file"] == "plants.md" and outcome["outcome"] == "stored, 1 passage (new)"
    listed = get(team, "/v1/documents", params={"collection": "handbook"}).json()["data"]
    assert outcome["id"] in {d["id"] for d in listed}
    found = post(team, "/v1/search", json={"query": "When is the ficus watered?", "collection": "handbook", "top_k": 2}).json()
    assert found["data"][0]["source"] == "plants.md" and set(found["data"][0]) >= {"score", "text", "page", "heading"}
    # Several files at once: each gets its outcome, in the same words as the app.
    mixed = post(team, "/v1/documents", data={"collection": "handbook"}, files=[
        ("files", ("more.md", b"# More\n\nThe car park closes at nine in the evening.")),
        ("files", ("tool.exe", b"MZ\x90\x00" + bytes(range(256)) * 4)),
    ])
    assert mixed.status_code == 200
    assert [f["status"] for f in mixed.json()["files"]] == ["failed", "added"]
    assert "binary" in mixed.json()["files"][0]["reason"]
    # rita may read public but write nowhere.
    assert_error(post(team, "/v1/documents", "rita", files=[("files", ("x.md", b"# X\n\nx"))], data={"collection": "public"}), 403)
    assert_error(httpx.delete(f"{team['server'].url}/v1/documents/{outcome['id']}", params={"collection": "handbook"},
                              headers={"Authorization": f"Bearer {team['keys']['rita']}"}), 404)  # handbook: not hers
    deleted = httpx.delete(f"{team['server'].url}/v1/documents/{outcome['id']}", params={"collection": "handbook"},
                           headers={"Authorization": f"Bearer {team['keys']['ada']}"})
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True and deleted.json()["passages"] == 1
    again = post(team, "/v1/search", json={"query": "When is the ficus watered?", "collection": "handbook"}).json()
    assert all(hit["source"] != "plants.md" for hit in again["data"])
    assert_error(httpx.delete(f"{team['server'].url}/v1/documents/{outcome['id']}", params={"collection": "handbook"},
                              headers={"Authorization": f"Bearer {team['keys']['ada']}"}), 404, "no document")


def test_each_bad_input_gets_an_openai_error_with_the_right_status(team):
    chat = "/v1/chat/completions"
    raw = {"headers": {"Authorization": f"Bearer {team['keys']['ada']}", "Content-Type": "application/json"}}
    assert_error(httpx.post(f"{team['server'].url}{chat}", content=b"{not json", **raw), 400, "not valid JSON")
    assert_error(post(team, chat, json={"model": "handbook"}), 400, "messages")
    assert_error(post(team, chat, json={"model": "handbook", "messages": "hello"}), 400, "messages")
    assert_error(post(team, chat, json={"model": "handbook", "messages": [{"role": "assistant", "content": "hi"}]}), 400, "user message")
    assert_error(post(team, "/v1/ask", json={"collection": "handbook"}), 400, "question")
    assert_error(post(team, "/v1/ask", json={"question": "x" * 2001, "collection": "handbook"}), 400, "at most 2000")
    assert_error(post(team, "/v1/ask", json={"question": "   ", "collection": "handbook"}), 400, "empty")
    assert_error(post(team, "/v1/ask", json={"question": "hi", "collection": "handbook", "filters": ["colour=red"]}), 400, "filter")
    assert_error(post(team, chat, json={"model": "no-such", "messages": [{"role": "user", "content": "hi"}]}), 404, "no collection")
    assert_error(post(team, "/v1/search", json={"query": "hi", "collection": "handbook", "top_k": 0}), 400, "top_k")
    too_big = b"# Big\n\n" + b"word " * 12_000
    assert_error(post(team, "/v1/documents", files=[("files", ("big.md", too_big))], data={"collection": "handbook"}), 413, "size limit")
    assert_error(post(team, "/v1/documents", files=[("files", ("a.zip", b"PK\x03\x04" + b"\x00" * 40))], data={"collection": "handbook"}), 415)
    assert_error(post(team, "/v1/documents", data={"collection": "handbook"}), 400, "files")
    assert_error(get(team, "/v1/nowhere"), 404)
    # The same bad inputs through the official client raise its typed errors, with the message.
    with pytest.raises(openai.NotFoundError, match="no collection"):
        client(team).chat.completions.create(model="no-such", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="at most 2000"):
        client(team).chat.completions.create(model="handbook", messages=[{"role": "user", "content": "y" * 2500}])


def test_keys_none_wrong_revoked_expired_and_other_peoples_collections(team):
    ask = {"question": "Who were the Normans?", "collection": "public"}
    assert_error(post(team, "/v1/ask", None, json=ask), 401, "API key is required")
    assert_error(httpx.post(f"{team['server'].url}/v1/ask", json=ask, headers={"Authorization": "Bearer rag_0000_guess"}), 401, "not valid")
    assert_error(httpx.post(f"{team['server'].url}/v1/ask", json=ask, headers={"Authorization": "Basic YWRhOng="}), 401)
    assert_error(post(team, "/v1/ask", "revoked", json=ask), 401, "revoked")
    time.sleep(1.0)  # the expired key was made to last 0.864 s
    assert_error(post(team, "/v1/ask", "expired", json=ask), 401, "expired")
    assert post(team, "/v1/ask", "rita", json=ask).status_code == 200
    for route, body in (("/v1/ask", {"question": "When was Harvard founded?", "collection": "secret"}),
                        ("/v1/search", {"query": "Harvard", "collection": "secret"}),
                        ("/v1/chat/completions", {"model": "secret", "messages": [{"role": "user", "content": "Harvard?"}]})):
        assert_error(post(team, route, "rita", json=body), 404, "no collection 'secret'")
    assert_error(get(team, "/v1/documents", "rita", params={"collection": "secret"}), 404)
    # A secret passage's own URL, which ada may open, is not rita's to open; nor may she delete it.
    secret_hit = post(team, "/v1/search", json={"query": "Harvard founded", "collection": "secret"}).json()["data"][0]
    path = secret_hit["url"].removeprefix(team["server"].url)
    assert get(team, path).status_code == 200
    assert_error(get(team, path, "rita"), 404)
    assert_error(httpx.delete(f"{team['server'].url}/v1/documents/{secret_hit['document_id']}", params={"collection": "secret"},
                              headers={"Authorization": f"Bearer {team['keys']['rita']}"}), 404)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{team['server'].url}/v1", api_key="wrong", max_retries=0).models.list()
    # A key revoked while in use stops working at the next request.
    store_dir = team["store_dir"]
    fresh = run_cli(["ragapp", "keys", "create", "rita"], store_dir).stdout.strip()
    headers = {"Authorization": f"Bearer {fresh}"}
    assert httpx.get(f"{team['server'].url}/v1/models", headers=headers).status_code == 200
    assert run_cli(["ragapp", "keys", "revoke", key_id(fresh)], store_dir).returncode == 0
    assert_error(httpx.get(f"{team['server'].url}/v1/models", headers=headers), 401, "revoked")
    # A grant taken away ends the key's access to that collection at once.
    assert run_cli(["ragapp", "revoke", "rita", "public"], store_dir).returncode == 0
    try:
        assert_error(post(team, "/v1/ask", "rita", json=ask), 404)
    finally:
        assert run_cli(["ragapp", "grant", "rita", "public", "read"], store_dir).returncode == 0


def test_no_passage_of_a_collection_the_key_may_not_read_over_100_questions(team):
    questions = [json.loads(line)["question"] for line in (SQUAD / "qa.jsonl").read_text().splitlines()]
    asked = random.Random(6).sample(questions, 100)  # about every article, the secret ones included
    rita = client(team, "rita")
    seen = answered = 0
    for i, question in enumerate(asked):
        found = post(team, "/v1/search", "rita", json={"query": question, "collection": "public"}).json()["data"]
        if i % 2:
            body = post(team, "/v1/ask", "rita", json={"question": question, "collection": "public"}).json()
            cited = body["citations"] + body["related"]
        else:
            response = rita.chat.completions.create(model="public", messages=[{"role": "user", "content": question}])
            body = response.model_extra["ragapp"]
            cited = response.model_extra["citations"] + body["related"]
        ids = {c["document_id"] for c in body["citations"]} | {h["document_id"] for h in found}
        assert ids <= team["public"] and not ids & team["secret"], question
        assert all(c["source"].split("/")[-1] in PUBLIC_DOCS for c in cited), question
        seen += len(found) + len(cited)
        answered += not body["refused"]
    assert seen > 300 and answered > 5, (seen, answered)  # the check is not vacuous


def test_ten_clients_three_questions_each_get_their_own_cited_answers(team):
    questions = {
        "What is the daily meal allowance when travelling?": ("handbook/expenses.md", "45 euros"),
        "How many days of paid annual leave do full-time employees get?": ("handbook/leave-policy.md", "27"),
        "How much is the learning budget per year?": ("benefits-guide.pdf", "1,500"),
        "How long is parental leave for birth parents?": ("handbook/leave-policy.md", "20 weeks"),
        "How much is reimbursed per kilometre when using my own car?": ("handbook/expenses.md", "0.23"),
    }
    items = list(questions)
    results: dict[int, list] = {}
    errors: list[str] = []
    start = threading.Barrier(10)

    def run(n: int) -> None:
        mine = client(team)
        start.wait()
        began = time.perf_counter()
        done = []
        try:
            for k in range(3):
                question = items[(n + k) % len(items)]
                response = mine.chat.completions.create(model="handbook", messages=[{"role": "user", "content": question}])
                done.append((question, response, time.perf_counter() - began))
        except Exception as exc:  # noqa: BLE001 - every failure is counted
            errors.append(f"client {n}: {exc!r}")
        results[n] = done

    threads = [threading.Thread(target=run, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    answers = [a for done in results.values() for a in done]
    assert len(answers) == 30
    for question, response, _ in answers:
        source, words = questions[question]
        citations = response.model_extra["citations"]
        assert citations and citations[0]["source"] == source, (question, citations)
        assert words in response.choices[0].message.content, (question, response.choices[0].message.content)
    # Fair turns: every client's three answers were done at about the same time as everyone's.
    finished = sorted(done[-1][2] for done in results.values())
    assert finished[0] > 0.4 * finished[-1], finished


def test_a_client_that_disconnects_mid_stream_frees_its_place_in_the_queue(team):
    question = {"question": "What is the daily meal allowance when travelling?", "collection": "handbook", "stream": True}
    headers = {"Authorization": f"Bearer {team['keys']['ada']}"}
    clients, streams = [], []
    for _ in range(4):
        http = httpx.Client(timeout=120)
        response = http.send(http.build_request("POST", f"{team['server'].url}/v1/ask", json=question, headers=headers), stream=True)
        lines = response.iter_lines()
        assert next(lines).startswith("event: sentence")  # the quote is out; the model comes next
        clients.append(http)
        streams.append(response)
    assert get(team, "/healthz", None).json()["model_queue"] >= 1
    for response, http in zip(streams, clients):
        response.close()
        http.close()
    # Four answers would keep the model busy for seconds; gone, they leave the queue at once.
    deadline = time.monotonic() + 1.5
    while get(team, "/healthz", None).json()["model_queue"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert get(team, "/healthz", None).json()["model_queue"] == 0
    answer = post(team, "/v1/ask", json={**question, "stream": False})
    assert answer.status_code == 200 and answer.json()["citations"]


def test_another_process_of_the_store_answers_with_the_servers_model(team, real_embedder):
    """One model for the machine: the app (here a pipeline in this process) uses the serve process's."""
    from ragapp.factory import describe_model

    settings = Settings(store_dir=team["store_dir"], upload_dir=team["home"] / "uploads")
    pipeline = Pipeline(settings, embedder=real_embedder)
    assert pipeline.generator.lent_by == team["server"].process.pid
    answer = pipeline.ask("What is the daily meal allowance when travelling?", "handbook")
    assert "45 euros" in answer.text and answer.citations and not answer.notice
    shown = run_cli(["ragapp", "settings"], team["store_dir"])
    assert "lent by `ragapp serve`" in shown.stdout and f"process {team['server'].process.pid}" in shown.stdout
    alone = run_cli(["ragapp", "settings"], team["store_dir"], RAGAPP_SHARE_MODEL="false")
    assert "in this process" in alone.stdout


# --- sign-in off, and MCP ------------------------------------------------------------------------------


def test_with_sign_in_off_loopback_needs_no_key_and_the_network_is_refused_without_keys(tmp_path):
    store_dir = tmp_path / "store"
    assert run_cli(["ingest", str(SAMPLE)], store_dir, RAGAPP_MODEL_SENTENCE="false").returncode == 0
    refused = run_cli(["ragapp", "serve", "--host", "0.0.0.0", "--port", str(free_port())], store_dir, timeout=60)
    assert refused.returncode == 2 and "refusing to listen on 0.0.0.0" in refused.stderr and "ragapp keys create" in refused.stderr
    server = ApiServer(store_dir, RAGAPP_MODEL_SENTENCE="false").start()
    try:
        local = openai.OpenAI(base_url=f"{server.url}/v1", api_key="placeholder", max_retries=0)
        response = local.chat.completions.create(model="default", messages=[{"role": "user", "content": "What is the daily meal allowance?"}])
        assert "45 euros" in response.choices[0].message.content
        assert [m.id for m in local.models.list()] == ["default"]
    finally:
        assert "Traceback" not in server.stop()


def test_mcp_server_over_stdio_lists_its_tools_and_answers_with_citations(team):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    env = {**team["server"].env, "RAGAPP_SIGN_IN": "accounts"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "ragapp.cli", "mcp", "--user", "rita"], env=env, cwd=str(ROOT))

    async def talk():
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = {t.name for t in (await session.list_tools()).tools}
                answer = await session.call_tool("ask", {"question": "Who was the Norman duke who conquered England?", "collection": "public"})
                found = await session.call_tool("search", {"query": "steam engine efficiency", "collection": "public", "top_k": 2})
                denied = await session.call_tool("ask", {"question": "When was Harvard founded?", "collection": "secret"})
                return tools, answer, found, denied

    tools, answer, found, denied = asyncio.run(asyncio.wait_for(talk(), timeout=300))
    assert tools == {"search", "ask"}
    body = answer.structuredContent
    assert not answer.isError and body["citations"] and "[1]" in body["answer"]
    assert all(c["source"] in PUBLIC_DOCS for c in body["citations"])
    hits = found.structuredContent["result"]
    assert len(hits) == 2 and hits[0]["source"] == "Steam_engine.md"
    assert denied.isError and "no collection 'secret'" in denied.content[0].text
