from sc_viz import links


def test_round_trip():
    v = links.View(pack="p", image=12, variants=("standard", "advc"), methods=("ig", "lime"),
                   target=3, perturbation="hue", level=2, eps=8.0, present=True)
    assert links.parse_query(links.to_query(v)) == v
    assert links.to_query(links.View()) == {}


def test_bad_values_are_dropped():
    v = links.parse_query({"img": "-1", "level": "9", "eps": "nan", "target": "x",
                           "v": ",,", "m": ["ig", "lime,ig"], "present": "no"})
    assert v == links.View(methods=("lime", "ig"))


def test_keep_known_restricts_and_orders():
    allowed = ["standard", "c", "adv", "advc"]
    assert links.keep_known(("advc", "zzz", "standard"), allowed, allowed) == ["standard", "advc"]
    assert links.keep_known(("zzz",), allowed, ["c"]) == ["c"]
    assert links.keep_known(None, ["standard"], allowed) == ["standard"]


def test_to_url():
    assert links.to_url("http://h/Saliency", links.View(image=5, variants=("c",))) == \
        "http://h/Saliency?img=5&v=c"
