"""Funnels page (being built)."""

import streamlit as st

st.title("Funnels")
st.info("This page is being built.")
