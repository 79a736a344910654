"""The Streamlit side of sc-viz: cached loaders, view state, sidebar, links, export
bundles and one view module per page. Only this sub-package imports streamlit."""
