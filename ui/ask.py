"""The Ask page: a conversation with the documents of one collection; every answer with its
checked sources; earlier conversations kept, searchable and deletable by their owner."""

from __future__ import annotations

import datetime
import logging
from functools import partial

import streamlit as st

from ragapp.documents import QuestionError
from ragapp.store import StoreError
from ragapp.workspace import Workspace
from ui import render, sidebar
from ui.source import show_source, still_shown

log = logging.getLogger("ragapp.app")

STORE_FAILED = "Not answered: {reason}. Your documents are unchanged."
FAILED_ANSWER = (
    "Something went wrong while answering ({reason}). Your documents are unchanged; "
    "try again, or ask the administrator to look at the app's log."
)


def new_conversation() -> None:
    st.session_state["history"] = []
    st.session_state["conversation"] = None


def page(workspace: Workspace, collection: str) -> None:
    with st.sidebar:
        only = sidebar.filter_section(workspace, collection)
        if workspace.may_write(collection):
            sidebar.upload_section(workspace, collection)
        sidebar.documents_section(workspace, collection)
        # Filled last, so a conversation started by this run's question is already listed.
        conversations_slot = st.container()
    try:
        _conversation(workspace, collection, only)
    finally:
        with conversations_slot:
            conversations_section(workspace)


def _conversation(workspace: Workspace, collection: str, only) -> None:
    st.header("Ask your documents")
    st.caption("Answers come only from your documents, with their sources. Nothing leaves this machine.")
    sources = partial(show_source, workspace, collection)
    # Answers shown again (earlier in this conversation, or reopened from the history) may cite
    # documents deleted since, or in a collection this person may no longer read.
    available = partial(still_shown, workspace, collection)
    history = st.session_state.setdefault("history", [])
    st.session_state.setdefault("conversation", None)
    if history and st.button("New conversation", icon=":material/add_comment:"):
        new_conversation()
        st.rerun()
    for number, turn in enumerate(history):
        with st.chat_message(turn["role"]):
            if turn["role"] == "user":
                render.show_answer_text(turn["text"])
            else:
                _show_answer(turn["answer"], sources, key=f"turn{number}", available=available)

    question = st.chat_input("Ask a question about your documents", max_chars=workspace.settings.max_question_chars)
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

        def on_queue(ahead: int) -> None:
            placeholder.info(f"Waiting for the model: {ahead} question{'s' if ahead != 1 else ''} ahead of yours.")

        # Each sentence appears once it has been checked against the passage it cites.
        try:
            with st.spinner("Answering from your documents and checking every sentence…"):
                answer = workspace.ask(question, collection, on_token=on_token, only=only, follows=follows, on_queue=on_queue)
        except Exception as exc:  # a person sees words, never a stack trace; the log gets it whole
            log.exception("answering a question in collection %r failed", collection)
            history.pop()
            if isinstance(exc, StoreError):  # the store's own words say what to do (a server down…)
                placeholder.error(STORE_FAILED.format(reason=render.inert(str(exc))))
            elif isinstance(exc, QuestionError):  # empty, or longer than the setting allows
                placeholder.warning(render.inert(f"Not asked: {exc}."))
            else:
                placeholder.error(FAILED_ANSWER.format(reason=type(exc).__name__))
            return
        with placeholder.container():
            render.show_lead(answer)
            render.show_answer_text(answer.text)
        _show_answer_details(answer, sources, key=f"turn{len(history)}")
    history.append({"role": "assistant", "answer": answer})
    st.session_state["conversation"] = workspace.remember(st.session_state["conversation"], collection, question, answer)


def conversations_section(workspace: Workspace) -> None:
    """The person's earlier conversations: search, open, delete. Nobody else's are listed."""
    st.subheader("Conversations")
    search = st.text_input("Search your conversations", key="history-search", placeholder="a word from a question or answer")
    found = workspace.conversations(search.strip())
    if not found:
        st.caption("None found." if search.strip() else "Your questions and their answers are kept here.")
        return
    for conversation in found[:30]:
        left, right = st.columns([5, 1])
        when = datetime.datetime.fromtimestamp(conversation.updated_at).strftime("%Y-%m-%d %H:%M")
        label = f"{render.inert(conversation.title)}  \n{when} · {conversation.collection} · {conversation.turns} answer{'s' if conversation.turns != 1 else ''}"
        if left.button(label, key=f"open-{conversation.id}", use_container_width=True):
            _open(workspace, conversation)
            st.rerun()
        if right.button("", icon=":material/delete:", key=f"forget-{conversation.id}", help="Delete this conversation"):
            workspace.forget(conversation.id)
            if st.session_state.get("conversation") == conversation.id:
                new_conversation()
            st.rerun()


def _open(workspace: Workspace, conversation) -> None:
    history = []
    for turn in workspace.turns(conversation.id):
        history.append({"role": "user", "text": turn.question})
        history.append({"role": "assistant", "answer": turn.answer})
    st.session_state["history"] = history
    st.session_state["conversation"] = conversation.id
    # The collection picker is already drawn in this run: it takes the collection on the next.
    st.session_state["switch-collection"] = conversation.collection


def _show_answer(answer, sources, key: str, available=None) -> None:
    render.show_lead(answer)
    render.show_answer_text(answer.text)
    _show_answer_details(answer, sources, key, available)


def _show_answer_details(answer, sources, key: str, available=None) -> None:
    render.show_query(answer)
    render.show_path(answer)
    render.show_sources(answer, sources, key=key, available=available)
    render.show_details(answer)
