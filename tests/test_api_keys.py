"""API keys (made, listed, revoked, expired; kept only as hashes), the door that turns a key into a
workspace, an answer cancelled while it waits for or holds the model, and the API's routes in
process (FastAPI's TestClient, fake models). The real server is in tests/integration/test_api.py."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from fakes import HashEmbedder, ScriptedGenerator
from fastapi.testclient import TestClient

from ragapp.accounts import AccountError
from ragapp.api import create_app
from ragapp.generator import Cancelled, FairQueue
from ragapp.keys import ApiKeys, KeyRefused
from ragapp.pipeline import Pipeline
from ragapp.workspace import Door, key_owner

PASSWORD = "correct horse battery"


@pytest.fixture
def team(settings, tmp_path):
    pipeline = Pipeline(settings.replace(sign_in="accounts"), embedder=HashEmbedder(),
                        generator=ScriptedGenerator("Employees get 27 days of paid annual leave each year. [1]"))
    hr = tmp_path / "hr"
    hr.mkdir()
    (hr / "leave.md").write_text("# Leave\n\nEmployees get 27 days of paid annual leave each year.\n")
    pipeline.ingest([hr], "hr-docs")
    pipeline.accounts.add("boss", "admin", PASSWORD)
    pipeline.accounts.add("rita", "reader", PASSWORD)
    return pipeline


def test_a_key_is_shown_once_and_only_its_hash_is_kept(settings):
    keys = ApiKeys(settings.app_db_path)
    info, secret = keys.create("rita", label="reports script")
    assert secret.startswith(info.id + "_") and info.id.startswith("rag_")
    assert keys.user_of(secret) == "rita"
    stored = sqlite3.connect(settings.app_db_path).execute("SELECT * FROM api_keys").fetchall()
    assert not any(secret in str(value) for row in stored for value in row)
    listed = keys.keys()
    assert [(k.id, k.user, k.label, k.state()) for k in listed] == [(info.id, "rita", "reports script", "active")]
    assert listed[0].last_used_at is not None  # the use above was recorded


def test_wrong_revoked_and_expired_keys_are_refused_with_the_reason(settings):
    keys = ApiKeys(settings.app_db_path)
    info, secret = keys.create("rita")
    with pytest.raises(KeyRefused, match="not valid"):
        keys.user_of(secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    with pytest.raises(KeyRefused, match="not valid"):
        keys.user_of("rag_nothing")
    assert keys.revoke(info.id) and not keys.revoke(info.id)
    with pytest.raises(KeyRefused, match="revoked"):
        keys.user_of(secret)
    short, short_secret = keys.create("rita", expires_days=0.2 / 86400)
    time.sleep(0.3)
    with pytest.raises(KeyRefused, match="expired"):
        keys.user_of(short_secret)
    assert short.state() == "expired" and not keys.any_active()
    with pytest.raises(AccountError, match="positive"):
        keys.create("rita", expires_days=0)


def test_a_key_acts_as_its_person_with_the_rights_they_have_now(team):
    door = Door(team)
    _, secret = team.keys.create(key_owner(team, "rita"))
    assert door.key(secret).collections() == []
    team.accounts.grant("rita", "hr-docs", "read")
    assert door.key(secret).collections() == ["hr-docs"]
    team.accounts.remove("rita")
    with pytest.raises(KeyRefused, match="no longer exists"):
        door.key(secret)
    with pytest.raises(AccountError):
        key_owner(team, "nobody")
    with pytest.raises(AccountError):
        key_owner(team, "local")  # the machine's owner has keys only with sign-in off


def test_an_answer_cancelled_while_waiting_gives_up_its_place_at_once():
    queue = FairQueue()
    holding, release = threading.Event(), threading.Event()

    def holder():
        with queue.turn():
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    holding.wait(5)
    cancelled = threading.Event()
    threading.Timer(0.1, cancelled.set).start()
    started = time.perf_counter()
    with pytest.raises(Cancelled):
        with queue.turn(cancelled=cancelled):
            pass
    assert time.perf_counter() - started < 0.5 and len(queue) == 1
    release.set()
    thread.join(5)
    assert len(queue) == 0


def test_an_answer_cancelled_while_the_model_writes_stops_it_and_frees_the_model(team):
    cancelled = threading.Event()
    written = []

    def slow_reply(messages):
        return "Employees get 27 days of paid annual leave each year. [1]"

    generator = team.generator

    def stream(messages, max_tokens, shape=None):
        for word in slow_reply(messages).split():
            written.append(word)
            cancelled.set()  # the asker leaves after the first word
            yield word + " "

    generator.stream = stream
    with pytest.raises(Cancelled):
        team.ask("How many days of annual leave?", "hr-docs", cancelled=cancelled)
    assert len(written) <= 2 and len(team.model_queue) == 0


def test_routes_in_process_need_a_key_off_loopback_and_answer_errors_in_openai_shape(team):
    team.accounts.grant("rita", "hr-docs", "read")
    _, secret = team.keys.create("rita")
    http = TestClient(create_app(team))  # its client is not on loopback: a key is needed
    missing = http.get("/v1/models")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
    assert missing.headers["www-authenticate"] == "Bearer"
    auth = {"Authorization": f"Bearer {secret}"}
    assert http.get("/v1/models", headers=auth).json()["data"][0]["id"] == "hr-docs"
    chat = http.post("/v1/chat/completions", headers=auth, json={
        "model": "hr-docs", "messages": [{"role": "user", "content": "How many days of annual leave?"}],
        "temperature": 1.5, "tools": [], "logit_bias": {}, "frequency_penalty": 0,
    })
    assert chat.status_code == 200, chat.text
    body = chat.json()
    assert "27 days" in body["choices"][0]["message"]["content"] and body["citations"][0]["source"] == "leave.md"
    wrong_type = http.post("/v1/ask", headers=auth, json={"question": ["not", "a", "string"], "collection": "hr-docs"})
    assert wrong_type.status_code == 400 and wrong_type.json()["error"]["param"] == "question"
    assert http.delete("/v1/documents/x", headers=auth, params={"collection": "hr-docs"}).status_code == 403
    assert http.get("/healthz").json()["status"] == "ok"  # liveness needs no key
