"""Show untrusted text (documents, model output) inert: no HTML, no live links, no fetched images."""

from __future__ import annotations

import re

import streamlit as st

from ragapp.documents import Answer

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~=:])")


def inert(text: str) -> str:
    """Escape every Markdown character so the text shows exactly as written, line breaks kept."""
    escaped = _MARKDOWN_SPECIALS.sub(r"\\\1", text)
    return escaped.replace("\n", "  \n")


def show_answer_text(text: str, placeholder=None) -> None:
    (placeholder or st).markdown(inert(text))


def show_sources(answer: Answer) -> None:
    """Under an answer: each cited source with its page, the passage in an expander."""
    if answer.refused:
        return
    if not answer.citations:
        st.caption("No sources cited: treat this answer with care.")
        return
    st.caption("Sources")
    for citation in answer.citations:
        with st.expander(f"[{citation.n}] {citation.location()}"):
            st.caption(citation.title)
            st.markdown(inert(citation.text))


def show_timings(answer: Answer) -> None:
    t = answer.timings
    parts = [f"retrieval {t.retrieval_s:.2f} s"]
    if t.first_token_s is not None:
        parts.append(f"first token {t.first_token_s:.1f} s")
    parts.append(f"total {t.total_s:.1f} s")
    st.caption(" · ".join(parts))
