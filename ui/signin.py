"""Who is using the app: nobody to ask (sign-in off), the team's sign-on proxy, or a name and
password checked against the accounts. The answer lives on the server, in the session's state."""

from __future__ import annotations

import streamlit as st

from ragapp.accounts import LOCAL_USER, AccountError, User
from ragapp.pipeline import Pipeline
from ragapp.workspace import proxy_user
from ui.render import inert

SIGNED_IN = "signed-in-user"


def current_user(pipeline: Pipeline) -> User:
    """The signed-in person; otherwise shows the sign-in page and stops the script here."""
    mode = pipeline.settings.sign_in
    if mode == "none":
        return LOCAL_USER
    if mode == "proxy":
        user = proxy_user(pipeline, st.context.headers)
        if user is None:
            header = pipeline.settings.proxy_header
            st.error(
                f"The sign-on proxy did not name anyone with an account here (header {header}). "
                "Ask an administrator to add your account: `ragapp users add NAME --role reader`."
            )
            st.stop()
        return user
    # accounts: the name is remembered by the server once the password was right; a removed
    # account is signed out on its next click.
    name = st.session_state.get(SIGNED_IN)
    user = pipeline.accounts.get(name) if name else None
    if user is not None:
        return user
    st.session_state.pop(SIGNED_IN, None)
    if pipeline.accounts.is_empty():
        _first_account(pipeline)
    else:
        _sign_in_form(pipeline)
    st.stop()


def _sign_in_form(pipeline: Pipeline) -> None:
    st.header("Sign in")
    with st.form("sign-in"):
        name = st.text_input("Name", key="sign-in-name")
        password = st.text_input("Password", type="password", key="sign-in-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            user = pipeline.accounts.authenticate(name.strip(), password)
        except AccountError as exc:
            st.error(inert(str(exc).capitalize()))
            return
        if user is None:
            st.error("Wrong name or password.")
            return
        st.session_state[SIGNED_IN] = user.name
        st.rerun()


def _first_account(pipeline: Pipeline) -> None:
    st.header("Create the first account")
    st.caption(
        "No accounts exist yet. The first one is the administrator: it adds the others and decides "
        "who may read and write each collection. (Or run `ragapp users add NAME --role admin --password-stdin`.)"
    )
    with st.form("first-account"):
        name = st.text_input("Name", key="first-name")
        password = st.text_input("Password (at least 8 characters)", type="password", key="first-password")
        submitted = st.form_submit_button("Create and sign in", type="primary")
    if submitted:
        try:
            user = pipeline.accounts.add(name.strip(), "admin", password, only_if_first=True)
        except AccountError as exc:
            st.error(inert(str(exc).capitalize()))
            return
        st.session_state[SIGNED_IN] = user.name
        st.rerun()


def sign_out_button(pipeline: Pipeline, user: User) -> None:
    """In the sidebar: who is signed in, and (with accounts) a way out."""
    if pipeline.settings.sign_in == "none":
        return
    st.caption(f"Signed in as **{user.name}** ({user.role})")
    if pipeline.settings.sign_in == "accounts" and st.button("Sign out", icon=":material/logout:"):
        for key in list(st.session_state.keys()):
            del st.session_state[key]
        st.rerun()
