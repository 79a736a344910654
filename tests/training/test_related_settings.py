"""The related methods' settings nested in TrainConfig (spat, sns, gsct) and the flat keys
configs are stored under: today's demo pack loads into them, the stored form is unchanged,
and a resume state written before the nesting resumes."""

import dataclasses
import json

import pytest
import torch
from conftest import DEMO_PACK
from safetensors import safe_open

from sc_viz.training.related import GsctSettings, SnsSettings, SpatSettings
from sc_viz.training.settings import setting_key, settings_groups
from sc_viz.training.trainer import TrainConfig, TrainError, resume_path, train

GROUPS = settings_groups(TrainConfig)
DEMO_VARIANTS = ["standard", "c", "adv", "advc", "spat", "sns", "gsct"]
# The keys configs were stored under before the settings were nested, as written then.
FLAT_KEYS = {
    "spat_gamma": ("spat", "gamma"),
    "spat_top_k": ("spat", "top_k"),
    "spat_step_norm": ("spat", "step_norm"),
    "sns_lambda": ("sns", "lambda_"),
    "sns_top_fraction": ("sns", "top_fraction"),
    "sns_layers": ("sns", "layers"),
    "gsct_lambda": ("gsct", "lambda_"),
    "gsct_top_fraction": ("gsct", "top_fraction"),
    "gsct_consensus_fraction": ("gsct", "consensus_fraction"),
    "gsct_offending_steps": ("gsct", "offending_steps"),
    "gsct_pseudo_batch": ("gsct", "pseudo_batch"),
    "gsct_warmup_epochs": ("gsct", "warmup_epochs"),
    "gsct_saliency_mode": ("gsct", "saliency_mode"),
}


def nested(cfg: TrainConfig, key: str):
    group, name = FLAT_KEYS[key]
    return getattr(getattr(cfg, group), name)


def test_every_settings_field_has_the_flat_key_it_was_stored_under():
    keys = {setting_key(g, f): (g, f.name) for g, cls in GROUPS.items() for f in dataclasses.fields(cls)}
    assert keys == FLAT_KEYS
    assert GROUPS == {"spat": SpatSettings, "sns": SnsSettings, "gsct": GsctSettings}


def stored_configs() -> dict:
    """variant -> (the manifest's config, the weights file's config), read raw from disk."""
    manifest = json.loads((DEMO_PACK / "manifest.json").read_text())
    configs = {}
    for variant, entry in manifest["variants"].items():
        with safe_open(str(DEMO_PACK / entry["file"]), framework="pt") as f:
            in_file = json.loads(f.metadata()["sc_viz"])["config"]
        configs[variant] = (entry["config"], in_file)
    return configs


@pytest.mark.parametrize("variant", DEMO_VARIANTS)
def test_demo_pack_configs_load_into_the_nested_settings(variant):
    for stored in stored_configs()[variant]:
        cfg = TrainConfig.from_dict(stored)
        assert cfg.variant == variant
        for key in FLAT_KEYS:
            if key in stored:
                assert nested(cfg, key) == stored[key], key
            elif key == "gsct_saliency_mode" and "gsct_lambda" in stored:
                assert nested(cfg, key) == "eval"  # stored before the train-mode reading existed
            else:
                assert nested(cfg, key) == nested(TrainConfig(), key), key  # stored before it existed
        again = cfg.to_dict()
        assert {k: again[k] for k in stored} == stored  # saved again: the same keys and values


def test_the_demo_packs_related_variants_carry_their_settings():
    configs = {v: TrainConfig.from_dict(stored[0]) for v, stored in stored_configs().items()}
    assert set(configs) == set(DEMO_VARIANTS)
    assert configs["spat"].spat == SpatSettings(step_norm="budget")
    assert configs["gsct"].gsct == GsctSettings()
    assert configs["sns"].sns == SnsSettings()


def test_configs_are_stored_flat_and_nested_ones_load_too():
    cfg = TrainConfig(variant="gsct", spat=SpatSettings(gamma=0.3), gsct=GsctSettings(lambda_=2.0))
    stored = cfg.to_dict()
    assert not set(GROUPS) & set(stored)
    assert stored["spat_gamma"] == 0.3 and stored["gsct_lambda"] == 2.0
    assert TrainConfig.from_dict(stored) == cfg
    nested_form = {**dataclasses.asdict(cfg), "sns": {"lambda": 0.2}}  # setting or field names
    loaded = TrainConfig.from_dict(nested_form)
    assert loaded.spat.gamma == 0.3 and loaded.gsct.lambda_ == 2.0 and loaded.sns.lambda_ == 0.2


def test_a_setting_is_found_by_its_stored_key():
    cfg = TrainConfig(variant="sns", lam=0.2, sns=SnsSettings(lambda_=0.3))
    assert cfg.setting("lam") == 0.2 and cfg.setting("sns_lambda") == 0.3
    assert cfg.setting("gsct_warmup_epochs") == 0.0
    with pytest.raises(TypeError, match="SpatSettings"):
        TrainConfig(spat={"gamma": 0.3})


TINY = dict(
    arch="tinycnn",
    optimizer="sgd",
    lr=0.05,
    epochs=2,
    batch_size=64,
    train_limit=128,
    test_limit=32,
    epoch_eval_limit=32,
    epoch_pgd_limit=16,
    attack_steps=1,
    precision="fp32",
)


def test_a_resume_state_saved_with_flat_keys_resumes(tmp_path, data_root):
    cfg = TrainConfig(variant="spat", spat=SpatSettings(gamma=0.3, step_norm="budget"), **TINY)
    out = tmp_path / "pack"
    train(cfg, out, progress=False, log=lambda m: None, stop_after_epochs=1)
    state_file = resume_path(out, "spat")
    state = torch.load(state_file, weights_only=True)
    config = {k: v for k, v in json.loads(state["config"]).items() if k not in FLAT_KEYS}
    config.update(  # as the trainer wrote them before the settings were nested
        spat_gamma=0.3,
        spat_top_k=10,
        spat_step_norm="budget",
        sns_lambda=0.5,
        sns_top_fraction=0.1,
        sns_layers=None,
        gsct_lambda=1.0,
        gsct_top_fraction=0.2,
        gsct_consensus_fraction=1.0,
        gsct_offending_steps=1,
        gsct_pseudo_batch="shared",
        gsct_warmup_epochs=0.0,
        gsct_saliency_mode="train",
    )
    state["config"] = json.dumps(config)
    torch.save(state, state_file)
    other = dataclasses.replace(cfg, spat=SpatSettings(gamma=0.2, step_norm="budget"))
    with pytest.raises(TrainError, match="spat_gamma"):
        train(other, out, resume=True, progress=False, log=lambda m: None)
    lines = []
    train(cfg, out, resume=True, progress=False, log=lines.append)
    assert lines[0] == "spat: resuming after epoch 1/2"
    assert not state_file.exists()
