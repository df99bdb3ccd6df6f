"""The Ask page: a conversation with the documents; every answer with its checked sources."""

from __future__ import annotations

from functools import partial

import streamlit as st

from ragapp.pipeline import Pipeline
from ui import render, sidebar
from ui.source import show_source

FAILED_ANSWER = (
    "Something went wrong while answering ({reason}). Your documents are unchanged; "
    "try again, or ask the administrator to look at the app's log."
)


def page(pipeline: Pipeline, collection: str) -> None:
    with st.sidebar:
        only = sidebar.filter_section(pipeline, collection)
        sidebar.upload_section(pipeline, collection)
        sidebar.documents_section(pipeline, collection)

    st.header("Ask your documents")
    st.caption("Answers come only from your documents, with their sources. Nothing leaves this machine.")
    sources = partial(show_source, pipeline, collection)
    history = st.session_state.setdefault("history", [])
    if history and st.button("New conversation", icon=":material/add_comment:"):
        history.clear()
        st.rerun()
    for number, turn in enumerate(history):
        with st.chat_message(turn["role"]):
            if turn["role"] == "user":
                render.show_answer_text(turn["text"])
            else:
                _show_answer(turn["answer"], sources, key=f"turn{number}")

    question = st.chat_input("Ask a question about your documents")
    if not question:
        return
    # A follow-up ("and for contractors?") is searched with the question before it.
    follows = next((t["answer"].query for t in reversed(history) if t["role"] == "assistant"), None)
    history.append({"role": "user", "text": question})
    with st.chat_message("user"):
        render.show_answer_text(question)
    with st.chat_message("assistant"):
        placeholder = st.empty()
        streamed: list[str] = []

        def on_token(piece: str) -> None:
            streamed.append(piece)
            placeholder.markdown(render.inert("".join(streamed)) + " ▌")

        # Each sentence appears once it has been checked against the passage it cites.
        try:
            with st.spinner("Answering from your documents and checking every sentence…"):
                answer = pipeline.ask(question, collection, on_token=on_token, only=only, follows=follows)
        except Exception as exc:  # a person sees words, never a stack trace
            history.pop()
            placeholder.error(FAILED_ANSWER.format(reason=type(exc).__name__))
            return
        render.show_answer_text(answer.text, placeholder)
        _show_answer_details(answer, sources, key=f"turn{len(history)}")
    history.append({"role": "assistant", "answer": answer})


def _show_answer(answer, sources, key: str) -> None:
    render.show_answer_text(answer.text)
    _show_answer_details(answer, sources, key)


def _show_answer_details(answer, sources, key: str) -> None:
    render.show_query(answer)
    render.show_path(answer)
    render.show_sources(answer, sources, key=key)
    render.show_timings(answer)
