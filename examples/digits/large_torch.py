"""A PyTorch conv model with a large input: (batch, 224, 224, 3) fp32, NHWC like the Keras one.

The JSON vs binary comparison needs a request of 150k floats. Training at that size would
cost minutes on 2 cores, so the net starts with a parameter-free 28x28 average pool: a digit
upscaled 28x (nearest) to 224x224x3 pools back to exactly its 8x8x3 self, and the small conv
tail is trained on the 8x8 digits directly (seconds). Served with ``torch.export``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from examples.digits.data import SEED, load_split

SIDE, SCALE = 224, 28  # 224 = 8 x 28


class DigitsCNN224(nn.Module):
    """Input ``image`` (batch, 224, 224, 3) NHWC -> (probabilities (batch, 10), label)."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(SCALE)
        self.tail = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 4 * 4, 10),
        )

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        return self.tail(self.pool(image.permute(0, 3, 1, 2)))  # type: ignore[no-any-return]

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probs = torch.softmax(self.logits(image), dim=-1)
        return probs, probs.argmax(dim=-1)


def upscale(flat: np.ndarray) -> np.ndarray:
    """(n, 64) digits in [0, 1] -> (n, 224, 224, 3) fp32 (nearest 28x, grey to RGB)."""
    img = flat.reshape(-1, 8, 8, 1).astype(np.float32)
    return np.repeat(np.repeat(np.repeat(img, SCALE, axis=1), SCALE, axis=2), 3, axis=3)


def train_cnn224() -> tuple[nn.Module, dict[str, float]]:
    torch.manual_seed(SEED)
    split = load_split()
    model = DigitsCNN224()
    # The tail sees what the pool makes of an upscaled digit: the 8x8 digit in 3 channels.
    x_train = torch.from_numpy(split.x_train).reshape(-1, 1, 8, 8).expand(-1, 3, -1, -1)
    y_train = torch.from_numpy(split.y_train)
    opt = torch.optim.Adam(model.tail.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(30):
        order = torch.randperm(len(x_train), generator=gen)
        for start in range(0, len(order), 64):
            idx = order[start : start + 64]
            opt.zero_grad()
            loss_fn(model.tail(x_train[idx]), y_train[idx]).backward()
            opt.step()
    model.eval()
    correct = 0
    with torch.no_grad():  # held-out accuracy through the whole 224x224x3 model
        for start in range(0, len(split.x_test), 60):
            _, label = model(torch.from_numpy(upscale(split.x_test[start : start + 60])))
            correct += int((label.numpy() == split.y_test[start : start + 60]).sum())
    return model, {"accuracy": correct / len(split.x_test)}


def held_out_images(n: int = 16) -> np.ndarray:
    """The first ``n`` held-out digits at 224x224x3: the sample inputs on which ``tandem
    export`` compares the two builds of the ``digits_cnn224`` twin."""
    return upscale(load_split().x_test[:n])
