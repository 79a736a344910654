"""Deep links: each field's codec, the URL of a view and back, what a bad link ignores."""

from sc_viz.app import links, views
from sc_viz.app.links import Field


def test_every_declared_field_round_trips():
    changed = {
        "present": True,
        "pack_folder": "/tmp/packs",
        "pack": "demo",
        "img_source": "Gallery",
        "img_index": 123,
        "variants": ["advc", "c"],
        "methods": ["lime", "saliency"],
        "target_mode": "class",
        "target_class": 7,
        "ig_steps": 48,
        "lime_samples": 300,
        "opacity": 0.35,
        "with_measures": False,
        "projection": "umap",
        "level": 3,
        "same_count": 45,
        "joint": True,
        "shown_perturbations": ["hue"],
        "eps": 4,
        "pgd_steps": 12,
        "adv_method": "ig",
    }
    query = views.query_of(changed)
    assert all(isinstance(v, str) for v in query.values())
    back, ignored = links.parse_query(query, views.ALL)
    assert ignored == []
    assert back == {k: v for k, v in changed.items() if k != "img_source"}  # Gallery: the default


def test_defaults_are_left_out_and_conditional_fields_follow_their_mode():
    defaults = {f.key: f.fresh_default() for f in views.ALL}
    assert views.query_of(defaults) == {}
    upload = {**defaults, "img_source": views.UPLOAD, "img_index": 5, "upload_class": 3}
    assert views.query_of(upload) == {"src": "Upload", "cls": "3"}  # an upload has no img=
    assert "target" not in views.query_of({**defaults, "target_class": 4})  # mode is not "class"
    assert views.query_of({**defaults, "target_mode": "class", "target_class": 4}) == {
        "mode": "class",
        "target": "4",
    }


def test_bad_values_are_named():
    values, ignored = links.parse_query(
        {
            "img": "-1",
            "level": "9",
            "opacity": "nan",
            "ig": "x",
            "v": ",,",
            "m": ["ig", "lime,ig"],
            "present": "maybe",
            "zzz": "1",
        },
        views.ALL,
    )
    assert values == {"variants": [], "methods": ["lime", "ig"]}
    assert [i.split("=")[0] for i in ignored] == ["img", "level", "opacity", "ig", "present", "zzz"]
    assert "outside 1..4" in ignored[1] and "unknown parameter" in ignored[-1]


def test_old_target_links_mean_a_chosen_class():
    values, _ = links.parse_query({"target": "3"}, views.ALL)
    assert views.upgrade_link(values) == {"target_class": 3, "target_mode": "class"}


def test_codecs():
    assert links.integer(1, 4).parse("4") == 4
    assert links.number(0, 1).format(0.25) == "0.25"
    assert links.flag().parse("on") is True and links.flag().format(False) == "0"
    assert links.names().parse(" a, b ,a,") == ["a", "b"]
    field = Field("k", ("a",), "k", links.names())
    assert links.to_query({"k": ["a"]}, [field]) == {}  # a tuple default equals its list


def test_keep_known_and_to_url():
    assert links.keep_known(["advc", "zzz", "standard"], ["standard", "c", "advc"]) == (
        ["advc", "standard"],
        ["zzz"],
    )
    assert links.to_url("http://h/saliency", {"img": "5", "v": "c"}) == "http://h/saliency?img=5&v=c"


def test_query_names_and_keys_are_unique():
    assert len({f.url for f in views.ALL if f.url}) == len([f for f in views.ALL if f.url])
    assert len(views.BY_KEY) == len(views.ALL)
