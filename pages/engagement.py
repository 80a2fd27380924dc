"""Engagement page (being built)."""

import streamlit as st

st.title("Engagement")
st.info("This page is being built.")
