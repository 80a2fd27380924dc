"""Retention page (being built)."""

import streamlit as st

st.title("Retention")
st.info("This page is being built.")
