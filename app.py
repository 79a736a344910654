"""sc-viz home page (placeholder until the app issue lands)."""
import streamlit as st

st.set_page_config(page_title="sc-viz", layout="wide")
st.title("sc-viz: semantic continuity of image classifiers")
st.write("The app's pages are being built; see the README.")
