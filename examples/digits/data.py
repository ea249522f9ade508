"""Digits data: scikit-learn ships it, so nothing is downloaded."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 7


@dataclass(frozen=True)
class Split:
    x_train: npt.NDArray[np.float32]
    y_train: npt.NDArray[np.int64]
    x_test: npt.NDArray[np.float32]
    y_test: npt.NDArray[np.int64]


def load_split() -> Split:
    """Flat 64-pixel images scaled to [0, 1]; a fixed stratified 80/20 split."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=SEED, stratify=y
    )
    return Split(x_train, y_train, x_test, y_test)


def sample_images(n: int = 4) -> npt.NDArray[np.float32]:
    """The first `n` held-out images, flat (n, 64): handy for curls and tests."""
    return load_split().x_test[:n]
