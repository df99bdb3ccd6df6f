"""The browser app: ask the documents, read the answer as it is written, check every source."""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run ui/app.py` puts ui/ on the path, not the project root that holds this package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st  # noqa: E402

from ragapp.pipeline import Pipeline  # noqa: E402
from ragapp.settings import Settings  # noqa: E402
from ui import render, sidebar  # noqa: E402

# A local icon file: a ":material/...:" page icon makes the browser fetch it from Google's servers.
ICON = Path(__file__).resolve().parent / "icon.png"
st.set_page_config(page_title="ragapp: ask your documents", page_icon=str(ICON), layout="wide")


@st.cache_resource(show_spinner="Loading the models…")
def get_pipeline(settings: Settings) -> Pipeline:
    """One pipeline (models, store) per process, shared by every browser session."""
    pipeline = Pipeline(settings)
    pipeline.warm_up()
    return pipeline


def main() -> None:
    settings = Settings.load()
    pipeline = get_pipeline(settings)
    collection = settings.collection

    with st.sidebar:
        st.title("ragapp")
        st.caption(f"Collection: {collection}")
        only = sidebar.filter_section(pipeline, collection)
        sidebar.upload_section(pipeline, collection)
        sidebar.documents_section(pipeline, collection)

    st.header("Ask your documents")
    st.caption("Answers come only from your documents, with their sources. Nothing leaves this machine.")
    history = st.session_state.setdefault("history", [])
    if history and st.button("New conversation", icon=":material/add_comment:"):
        history.clear()
        st.rerun()
    for turn in history:
        with st.chat_message(turn["role"]):
            if turn["role"] == "user":
                render.show_answer_text(turn["text"])
            else:
                answer = turn["answer"]
                render.show_answer_text(answer.text)
                render.show_query(answer)
                render.show_path(answer)
                render.show_sources(answer)
                render.show_timings(answer)

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
        with st.spinner("Answering from your documents and checking every sentence…"):
            answer = pipeline.ask(question, collection, on_token=on_token, only=only, follows=follows)
        render.show_answer_text(answer.text, placeholder)
        render.show_query(answer)
        render.show_path(answer)
        render.show_sources(answer)
        render.show_timings(answer)
    history.append({"role": "assistant", "answer": answer})


main()
