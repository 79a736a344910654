"""The paper's four variants written as objective terms train exactly as the four-boolean
step they replaced: same loss, same terms, same parameter gradients, bit for bit."""

import pytest
import torch
import torch.nn.functional as F

from sc_viz.attacks import pgd
from sc_viz.losses import continuity_loss
from sc_viz.models import build_model
from sc_viz.perturb import random_photometric
from sc_viz.training.trainer import TrainConfig, training_step

# (adversarial CE, photometric continuity, adversarial continuity): the former registry
FORMER = {
    "standard": (False, False, False),
    "c": (False, True, False),
    "adv": (True, False, False),
    "advc": (True, True, True),
}


def former_step(model, x, y, cfg, g):
    """The training step as it was before the objective terms (git history of trainer.py)."""
    adv_ce, photo, adv_cont = FORMER[cfg.variant]
    inputs = []
    need_clean = not adv_ce or photo or adv_cont
    if need_clean:
        inputs.append(x)
    if adv_ce or adv_cont:
        model.eval()
        x_adv = pgd(model, x, y, cfg.train_attack, generator=g)
        model.train()
        inputs.append(x_adv)
    if photo:
        inputs.append(random_photometric(x, g, cfg.perturbations, cfg.levels))
    logits = model(torch.cat(inputs)).float()
    names = [n for n, use in (("clean", need_clean), ("adv", adv_ce or adv_cont), ("photo", photo)) if use]
    views = dict(zip(names, logits.chunk(len(inputs))))
    ce_logits = views["adv"] if adv_ce else views["clean"]
    ce = F.cross_entropy(ce_logits, y)
    sc = torch.zeros(())
    if photo:
        sc = sc + continuity_loss(views["clean"], views["photo"])
    if adv_cont:
        sc = sc + continuity_loss(views["clean"], views["adv"])
    return ce + cfg.lam * sc, ce.detach(), sc.detach(), (ce_logits.argmax(1) == y).sum()


@pytest.mark.parametrize("arch", ["tinycnn", "resnet20"])
@pytest.mark.parametrize("variant", list(FORMER))
def test_paper_variants_as_terms_equal_the_former_step_bit_for_bit(variant, arch):
    x, y = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(1)), torch.arange(16) % 10
    cfg = TrainConfig(variant=variant, arch=arch, attack_steps=2, precision="fp32")
    results = []
    for step in (former_step, lambda m, *a: training_step(m, m, *a, None)):
        torch.manual_seed(0)
        model = build_model(arch, 10, (0.5,) * 3, (0.25,) * 3)
        loss, ce, sc, correct = step(model, x, y, cfg, torch.Generator().manual_seed(5))
        loss.backward()
        results.append((loss.detach(), ce, sc, correct, [p.grad for p in model.parameters()]))
    (a_loss, a_ce, a_sc, a_ok, a_grads), (b_loss, b_ce, b_sc, b_ok, b_grads) = results
    assert torch.equal(a_loss, b_loss) and torch.equal(a_ce, b_ce) and torch.equal(a_sc, b_sc)
    assert torch.equal(a_ok, b_ok)
    assert all(torch.equal(g, h) for g, h in zip(a_grads, b_grads))
    assert (a_sc > 0) == (variant in ("c", "advc"))  # the continuity terms are really there
