"""The view-state mechanism on its own (sc_viz.app.state), in a small app of three widgets:
values survive runs that stop before the widgets are drawn, the browser is sent the kept
value (not the widget's default), the URL carries the view, a new URL (Back, a link) wins."""

import os

from streamlit.testing.v1 import AppTest


def small_app():
    import streamlit as st

    from sc_viz.app import state

    methods = ["saliency", "gradcam", "ig", "lime"]
    state.begin()
    notes = st.empty()
    try:
        if st.session_state.get("stop_early"):  # e.g. an upload being replaced: no image yet
            st.stop()
        st.slider("IG steps", 8, 128, step=8, key=state.bind("ig_steps"))
        st.multiselect("Methods", methods, key=state.bind("methods", methods, what="method"))
        if st.session_state.get("show_eps"):
            st.select_slider("eps", [0, 4, 8], key=state.bind("eps", [0, 4, 8]))
    finally:
        state.show_notes(notes)
        state.publish()


def open_small(query=None):
    os.environ["SC_VIZ_WARMUP"] = "0"
    at = AppTest.from_function(small_app, default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def query(at):
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def test_values_survive_runs_that_stop_early_and_reach_the_browser():
    at = open_small()
    at.slider(key="ig_steps").set_value(16).run()
    at.multiselect(key="methods").set_value(["lime", "saliency"]).run()
    at.session_state["stop_early"] = True
    at.run()
    assert not at.slider and not at.multiselect  # not drawn: Streamlit drops their state
    at.session_state["stop_early"] = False
    at.run()
    assert at.slider(key="ig_steps").value == 16
    assert at.multiselect(key="methods").value == ["lime", "saliency"]
    # the value is sent with the widget (set_value), not left to the browser's default
    assert at.multiselect(key="methods").proto.set_value
    assert query(at) == {"ig": "16", "m": "lime,saliency"}


def test_a_widget_drawn_later_gets_its_linked_value():
    at = open_small({"eps": "4", "ig": "24"})
    assert at.slider(key="ig_steps").value == 24 and query(at) == {"ig": "24", "eps": "4"}
    at.slider(key="ig_steps").set_value(32).run()  # the default: leaves the URL
    at.session_state["show_eps"] = True
    at.run()
    assert at.select_slider(key="eps").value == 4
    assert query(at) == {"eps": "4"}


def test_a_new_url_wins_and_missing_values_are_defaults():
    at = open_small({"ig": "24", "m": "ig"})
    at.query_params.clear()  # Back to an entry without parameters
    at.query_params["m"] = "gradcam"
    at.run()
    assert at.slider(key="ig_steps").value == 32
    assert at.multiselect(key="methods").value == ["gradcam"]


def test_a_bad_link_says_what_it_ignored_until_the_user_moves_on():
    at = open_small({"m": "foo,ig", "ig": "7", "zz": "1"})
    assert at.multiselect(key="methods").value == ["ig"]
    assert at.slider(key="ig_steps").value == 32
    (warning,) = at.warning
    for part in ("m=foo (no such method here)", "ig=7 (outside 8..128)", "zz=1 (unknown parameter)"):
        assert part in warning.value
    at.run()
    assert len(at.warning) == 1  # still there on a rerun without changes
    at.slider(key="ig_steps").set_value(40).run()
    assert not at.warning


def test_unknown_choices_fall_back_to_the_default():
    at = open_small({"m": "foo"})
    assert at.multiselect(key="methods").value == ["gradcam", "ig", "lime"]
