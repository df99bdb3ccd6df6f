"""Who is using the app: nobody to ask (sign-in off), the team's sign-on proxy, or a name and
password checked against the accounts. The answer lives on the server, in the session's state."""

from __future__ import annotations

import streamlit as st

from ragapp.accounts import AccessDenied, AccountError
from ragapp.workspace import Door, Workspace
from ui.render import inert

SIGNED_IN = "signed-in-user"


def current_workspace(door: Door) -> Workspace:
    """The signed-in person's workspace; otherwise shows the sign-in page and stops the script here."""
    mode = door.mode
    if mode == "none":
        return door.local()
    if mode == "proxy":
        try:
            workspace = door.proxy(st.context.headers, client_address())
        except AccessDenied as exc:
            st.error(inert(str(exc).capitalize()))
            st.stop()
        if workspace is None:
            header = door.proxy_header
            st.error(
                f"The sign-on proxy did not name anyone with an account here (header {header}). "
                "Ask an administrator to add your account: `ragapp users add NAME --role reader`."
            )
            st.stop()
        return workspace
    # accounts: the name is remembered by the server once the password was right; a removed
    # account is signed out on its next click.
    workspace = door.account(st.session_state.get(SIGNED_IN))
    if workspace is not None:
        return workspace
    st.session_state.pop(SIGNED_IN, None)
    if door.needs_first_account():
        _first_account(door)
    else:
        _sign_in_form(door)
    st.stop()


def client_address() -> str:
    """The address the browser's connection comes from (Streamlit gives None for loopback, and
    something that is not an address where no browser is connected, as under its AppTest)."""
    address = st.context.ip_address
    return address if isinstance(address, str) and address else "127.0.0.1"


def _sign_in_form(door: Door) -> None:
    st.header("Sign in")
    with st.form("sign-in"):
        name = st.text_input("Name", key="sign-in-name")
        password = st.text_input("Password", type="password", key="sign-in-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            workspace = door.password(name.strip(), password, client_address())
        except AccountError as exc:
            st.error(inert(str(exc).capitalize()))
            return
        if workspace is None:
            st.error("Wrong name or password.")
            return
        st.session_state[SIGNED_IN] = workspace.user.name
        st.rerun()


def _first_account(door: Door) -> None:
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
            workspace = door.first_account(name.strip(), password)
        except AccountError as exc:
            st.error(inert(str(exc).capitalize()))
            return
        st.session_state[SIGNED_IN] = workspace.user.name
        st.rerun()


def sign_out_button(workspace: Workspace) -> None:
    """In the sidebar: who is signed in, and (with accounts) a way out."""
    mode = workspace.settings.sign_in
    if mode == "none":
        return
    user = workspace.user
    st.caption(f"Signed in as **{user.name}** ({user.role})")
    if mode == "accounts" and st.button("Sign out", icon=":material/logout:"):
        for key in list(st.session_state.keys()):
            del st.session_state[key]
        st.rerun()
