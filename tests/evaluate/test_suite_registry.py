"""The suites registry: one object per suite, registered in a fixed order."""

from sc_viz.evaluate import SUITE_MODULES, SUITES


def test_suites_register_in_the_order_of_their_modules():
    # the order of `--suite all`, of the CLI help and of a new report's run log: the
    # modules' order, whatever else imports a suite module first
    assert len(SUITE_MODULES) == 10
    assert SUITES.names()[: len(SUITE_MODULES)] == [
        "continuity",
        "embeddings",
        "robustness",
        "robustness-budgets",
        "disruption",
        "saliency",
        "explanation-stability",
        "neurons",
        "consensus",
        "sanity",
    ]
