"""Show untrusted text (documents, model output) inert: no HTML, no live links, no fetched images."""

from __future__ import annotations

import re

import streamlit as st

from ragapp.documents import DECLINED, EXTRACTIVE, GENERATED, Answer

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~=:])")

# Streamlit's Markdown turns a bare address into a live link even when its characters are escaped
# (GitHub's "autolink literal": http://, www., name@host): an invisible zero-width space after
# "scheme:" (before "//"), "www" and '@' breaks that, and the text still reads the same.
_AUTOLINK_STARTS = re.compile(r"(\\:(?=//)|(?i:www)|@)")


def inert(text: str) -> str:
    """Escape every Markdown character and break every address, so the text shows exactly as
    written (line breaks kept): no HTML, no image, no live link."""
    escaped = _MARKDOWN_SPECIALS.sub(r"\\\1", text)
    escaped = _AUTOLINK_STARTS.sub("\\1\u200b", escaped)
    return escaped.replace("\n", "  \n")


def show_answer_text(text: str, placeholder=None) -> None:
    (placeholder or st).markdown(inert(text))


PATH_ICONS = {GENERATED: ":material/verified:", EXTRACTIVE: ":material/format_quote:", DECLINED: ":material/block:"}


def show_query(answer: Answer) -> None:
    """For a follow-up, what was searched: the question joined to the one before it."""
    if answer.query and answer.query != answer.question:
        st.caption(f":material/forum: Searched as a follow-up: {inert(answer.query)}")


def show_lead(answer: Answer) -> None:
    """What an overview summarises, above it."""
    if answer.lead:
        st.caption(inert(answer.lead))


def show_path(answer: Answer) -> None:
    """How the answer was produced (quoted, with a checked sentence of the model's, or declined)."""
    st.caption(f"{PATH_ICONS[answer.path]} {answer.how_answered(details=False)}")


GONE = "No longer available: the document was deleted, or you may no longer read its collection."


def show_sources(answer: Answer, show_source=None, key: str = "", available=None) -> None:
    """Under an answer: each cited source with its page; opening one shows the passage where it
    sits (show_source(passage, key), e.g. the PDF page with the passage highlighted). For a
    declined answer, the closest passages as "related". available(passage): False for a source
    that may not be shown any more (an answer from before a delete or a revoked grant): it is
    named by its number alone, and nothing of it is shown."""
    if answer.citations:
        st.caption("Sources")
        for citation in answer.citations:
            if available is not None and not available(citation.passage):
                with st.expander(f"[{citation.n}] no longer available"):
                    st.caption(GONE)
                continue
            # Labels are Markdown too: a heading such as "![x](http://…)" must not load an image.
            with st.expander(inert(f"[{citation.n}] {citation.location()}")):
                st.caption(inert(citation.title))
                if show_source is None:
                    st.markdown(inert(citation.text))
                else:
                    show_source(citation.passage, f"{key}-{citation.n}")
    related = [hit for hit in answer.related if available is None or available(hit.passage)]
    if related:
        st.caption("Related passages (not close enough to answer from)")
        for hit in related:
            with st.expander(inert(hit.passage.location())):
                st.markdown(inert(hit.passage.text))


def show_details(answer: Answer) -> None:
    """Behind a toggle, out of the reader's way: what was withheld, and how long each step took."""
    t = answer.timings
    parts = [f"retrieval {t.retrieval_s:.2f} s"]
    if t.first_token_s is not None:
        parts.append(f"first text {t.first_token_s:.2f} s")
    parts.append(f"total {t.total_s:.1f} s")
    with st.popover("Details"):
        if answer.withheld:
            st.caption(answer.how_answered())
        st.caption(" · ".join(parts))
