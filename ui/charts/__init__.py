"""Plotly figure builders: plain functions, testable without Streamlit."""
