"""The app's CSS: presentation mode for talks (large fonts, no toolbars or captions)."""
from __future__ import annotations

import streamlit as st

PRESENTATION_CSS = """
<style>
html, body, [class*="st-"] { font-size: 20px; }
h1 { font-size: 2.6rem !important; } h2 { font-size: 2.0rem !important; }
[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"],
footer, [data-testid="stCaptionContainer"], [data-testid="stExpander"] { display: none !important; }
[data-testid="stMainBlockContainer"] { max-width: 100% !important; padding: 1rem 1.5rem !important; }
</style>
"""


def apply(present: bool) -> None:
    """The page's styling for the chosen mode (normal mode needs none)."""
    if present:
        st.html(PRESENTATION_CSS)
