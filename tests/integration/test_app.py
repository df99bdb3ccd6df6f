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
