"""Training for the PyTorch digit classifiers (the networks live in `torch_nets`)."""

from __future__ import annotations

import torch
from torch import nn

from examples.digits.data import SEED, load_split
from examples.digits.torch_nets import DigitsCNN, DigitsDynamic, DigitsMLP


def _fit(model: nn.Module, image_shape: tuple[int, ...], epochs: int = 40) -> dict[str, float]:
    torch.manual_seed(SEED)
    split = load_split()
    x_train = torch.from_numpy(split.x_train).reshape(-1, *image_shape)
    y_train = torch.from_numpy(split.y_train)
    x_test = torch.from_numpy(split.x_test).reshape(-1, *image_shape)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x_train), generator=gen)
        for start in range(0, len(order), 64):
            idx = order[start : start + 64]
            opt.zero_grad()
            loss = loss_fn(model.logits(x_train[idx]), y_train[idx])  # type: ignore[operator]
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        _, label = model(x_test)
    accuracy = float((label.numpy() == split.y_test).mean())
    return {"accuracy": accuracy}


def train_mlp() -> tuple[nn.Module, dict[str, float]]:
    torch.manual_seed(SEED)
    model = DigitsMLP()
    return model, _fit(model, (64,))


def train_cnn() -> tuple[nn.Module, dict[str, float]]:
    torch.manual_seed(SEED)
    model = DigitsCNN()
    return model, _fit(model, (1, 8, 8), epochs=25)


def train_dynamic() -> tuple[nn.Module, dict[str, float]]:
    torch.manual_seed(SEED)
    model = DigitsDynamic()
    return model, _fit(model, (64,))
