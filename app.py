"""sc-viz app: `streamlit run app.py`.

The entry point (st.navigation, Streamlit's recommended multipage API). Each run takes in
the view (sc_viz.app.state), draws the shared sidebar, runs the page and writes the view
into the URL. The pages live in app_pages/, not pages/: that folder name would make
Streamlit also route the files by their names, and a server's first visitor on /saliency
would get a "Page not found" dialog."""

import streamlit as st

from sc_viz.app import deck_view, loaders, sidebar, state, style


def alias(target: st.Page):
    """A hidden page at another spelling of `target`'s URL that moves on to `target`."""

    def go():
        st.switch_page(target, query_params=st.query_params.to_dict())

    go.__name__ = f"alias_{target.url_path}"
    return go


# Explicit lower-case url paths keep each page's URL stable for deep links; the aliases
# take the capitalised spelling that Streamlit derives from file names (/Saliency).
PAGES = [
    st.Page("app_pages/0_Models.py", title="Models", icon=":material/home:", default=True),
    st.Page("app_pages/1_Saliency.py", title="Saliency", url_path="saliency", icon=":material/grid_view:"),
    st.Page(
        "app_pages/2_Embeddings.py", title="Embeddings", url_path="embeddings", icon=":material/scatter_plot:"
    ),
    st.Page(
        "app_pages/3_Continuity.py", title="Continuity", url_path="continuity", icon=":material/show_chart:"
    ),
    st.Page("app_pages/4_Robustness.py", title="Robustness", url_path="robustness", icon=":material/shield:"),
    st.Page("app_pages/5_Neurons.py", title="Neurons", url_path="neurons", icon=":material/hub:"),
    st.Page("app_pages/6_Sanity.py", title="Sanity", url_path="sanity", icon=":material/fact_check:"),
]
ALIASES = [st.Page(alias(p), title=p.title, url_path=p.title, visibility="hidden") for p in PAGES[1:]]

st.set_page_config(page_title="sc-viz", layout="wide", page_icon=style.favicon())
loaders.warm_up_projections()
page = st.navigation(PAGES + ALIASES, position="hidden")  # drawn by sidebar.navigation
state.begin()
slide_page = deck_view.pending_page()  # a deck slide (keys N and P) on another page
if slide_page and slide_page != page.title:
    st.switch_page(next(p for p in PAGES if p.title == slide_page))
# Presentation mode collapses the sidebar (its controls are in each page's compact bar).
st.set_page_config(initial_sidebar_state=style.sidebar_state(state.value("present")))
menu = st.sidebar.empty()
# The links at once, with the URL's query as it stands: the sidebar may wait for the test
# images (a first visit decodes them); redrawn with the whole view below.
sidebar.navigation(menu, PAGES, st.query_params.to_dict())
ctx = sidebar.setup_context(page_needs_image=page.title != "Models", page=page.title)
state.show_notes(st.empty())
sidebar.navigation(menu, PAGES, state.publish())
deck_view.begin_run()
with state.page_run():
    page.run()
# The page may have fitted values to what it offers (a first visit, another pack): the
# URL and the links get them. A page that stopped early gets there on its next run.
sidebar.navigation(menu, PAGES, state.publish())
