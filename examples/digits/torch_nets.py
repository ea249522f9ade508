"""PyTorch digit classifiers; `forward` returns (probabilities, label).

`DigitsMLP` and `DigitsCNN` are static graphs (TorchScript / torch.export); `DigitsDynamic`
has data-dependent control flow (it refines only uncertain rows), so it is served eagerly.
This file imports nothing but torch: it travels inside the eager `.mar` as the model file,
and classes take no constructor arguments so the handler can rebuild them from a state_dict.
"""

from __future__ import annotations

import torch
from torch import nn


class DigitsMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)
        )

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net(pixels)  # type: ignore[no-any-return]

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probs = torch.softmax(self.logits(pixels), dim=-1)
        return probs, probs.argmax(dim=-1)


class DigitsCNN(nn.Module):
    """Input `image` (batch, 1, 8, 8), NCHW as PyTorch expects."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image))  # type: ignore[no-any-return]

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probs = torch.softmax(self.logits(image), dim=-1)
        return probs, probs.argmax(dim=-1)


class DigitsDynamic(nn.Module):
    """An MLP that runs an extra refinement block only on low-confidence rows.

    The branch depends on the data, so tracing would freeze one path: this model is exported
    in eager format (state_dict + this file).
    """

    def __init__(self) -> None:
        super().__init__()
        self.base = DigitsMLP()
        self.refine = nn.Sequential(nn.Linear(64 + 10, 64), nn.ReLU(), nn.Linear(64, 10))
        self.threshold = 0.9

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        logits = self.base.logits(pixels)
        confidence = torch.softmax(logits, dim=-1).max(dim=-1).values
        uncertain = confidence < self.threshold
        if bool(uncertain.any()):
            rows = torch.cat([pixels[uncertain], logits[uncertain]], dim=-1)
            logits = logits.clone()
            logits[uncertain] = logits[uncertain] + self.refine(rows)
        return logits

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probs = torch.softmax(self.logits(pixels), dim=-1)
        return probs, probs.argmax(dim=-1)
