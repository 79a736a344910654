"""The distance score and the semantic continuity loss, both on logits (docs/method.md,
sections "Representation and distance score" and "Continuity loss")."""

import torch


def distance_score(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """DS = ||f(x) - f(x')||_2 per sample: (N, C), (N, C) -> (N,)."""
    return (logits_a - logits_b).norm(dim=1)


def continuity_loss(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """L_sc = mean over the batch of ||f(x) - f(T(x))||_2^2 -> scalar."""
    return (logits_a - logits_b).pow(2).sum(dim=1).mean()
