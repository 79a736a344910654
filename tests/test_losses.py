import math

import torch

from sc_viz.losses import continuity_loss, distance_score


def test_continuity_loss_matches_hand_computed_value():
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    # ||(1,2)||^2 = 5, ||(2,3)||^2 = 13, mean = 9
    assert continuity_loss(a, b).item() == 9.0
    assert torch.allclose(distance_score(a, b), torch.tensor([math.sqrt(5), math.sqrt(13)]))


def test_continuity_loss_is_zero_for_identical_logits_and_differentiable():
    a = torch.randn(4, 10, requires_grad=True)
    assert continuity_loss(a, a.detach()).item() == 0.0
    loss = continuity_loss(a, torch.zeros(4, 10))
    loss.backward()
    assert torch.allclose(a.grad, 2 * a.detach() / 4)  # d/da mean ||a||^2
