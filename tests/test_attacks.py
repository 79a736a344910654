import torch
import torch.nn.functional as F

from sc_viz.attacks import LinfStep, PGDConfig, pgd
from sc_viz.models import build_model


def _model():
    torch.manual_seed(0)
    return build_model("tinycnn", 10, (0.5,) * 3, (0.25,) * 3).eval()


def test_threat_model_projects_into_ball_and_unit_box():
    threat = LinfStep(eps=0.1, step_size=0.05)
    x0 = torch.tensor([0.0, 0.5, 0.95])
    x = torch.tensor([-0.3, 0.9, 1.2])
    assert torch.allclose(threat.project(x, x0), torch.tensor([0.0, 0.6, 1.0]))
    start = threat.random_start(x0.expand(1000, 3), torch.Generator().manual_seed(0))
    assert (start - x0).abs().max() <= 0.1 + 1e-7 and start.min() >= 0 and start.max() <= 1


def test_pgd_stays_in_eps_ball_and_box_and_raises_the_loss():
    model = _model()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 16, 16, generator=g)
    x[:4] = 0.0  # pixels at the box edges must stay inside [0, 1]
    x[4:8] = 1.0
    y = model(x).argmax(1)
    cfg = PGDConfig(eps=8 / 255, step_size=2 / 255, steps=10, random_start=True)
    x_adv = pgd(model, x, y, cfg, generator=g)
    assert (x_adv - x).abs().max() <= cfg.eps + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    with torch.no_grad():
        assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y)


def test_pgd_leaves_the_model_untouched():
    model = _model().train()
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k}
    x = torch.rand(4, 3, 8, 8)
    pgd(model.eval(), x, torch.zeros(4, dtype=torch.long), PGDConfig(steps=2))
    assert all(p.grad is None for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items() if k in before)
