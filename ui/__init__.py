"""Streamlit glue shared by the pages: filters kept in the URL, cached data access, common widgets.

Pages hold layout only; chart builders live in ``ui/charts/`` as plain functions returning Plotly
figures (no Streamlit import), and the cached adapters that call ``metrics`` live in
``ui/<family>.py``.
"""
