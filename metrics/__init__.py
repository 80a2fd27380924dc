"""Pure metric computation on Polars frames in the canonical event schema.

Nothing in this package imports streamlit, sqlalchemy, plotly or connectors, and nothing reads the
clock: "today" always comes in as a parameter.
"""
