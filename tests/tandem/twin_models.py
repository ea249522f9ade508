"""Deterministic, untrained models for the twin export tests (no training, no randomness):
a reference that picks the largest of the first ten pixels, and a deliberately different
model that always answers class 0."""

from __future__ import annotations

import torch
from torch import nn


class FirstTen(nn.Module):
    """Class scores: softmax of the first ten of the 64 pixels."""

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probabilities = torch.softmax(pixels[:, :10] * 10.0, dim=1)
        return probabilities, probabilities.argmax(dim=1)


class AlwaysZero(nn.Module):
    """Certain of class 0 whatever the input."""

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probabilities = torch.zeros_like(pixels[:, :10])
        probabilities[:, 0] = 1.0
        return probabilities, probabilities.argmax(dim=1)


def first_ten() -> nn.Module:
    return FirstTen().eval()


def always_zero() -> nn.Module:
    return AlwaysZero().eval()
