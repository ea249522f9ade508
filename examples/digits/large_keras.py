"""A Keras conv model with a large input: (batch, 224, 224, 3) fp32 NHWC.

Same trick as ``large_torch``: a parameter-free 28x28 average pool brings an upscaled digit
back to 8x8x3, and only the small conv tail is trained, on the 8x8 digits (seconds on 2
cores). Serving still moves and pools the whole 224x224x3 tensor.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from examples.digits.data import SEED, load_split
from examples.digits.large_torch import SCALE, SIDE, upscale


def train_cnn224() -> tuple[Any, dict[str, float]]:
    """Input ``image`` (batch, 224, 224, 3) -> ``probabilities`` (batch, 10), ``label``."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(SEED)
    split = load_split()
    tail = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 3)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    tail.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    small = np.repeat(split.x_train.reshape(-1, 8, 8, 1), 3, axis=3)
    tail.fit(small, split.y_train, epochs=30, batch_size=64, verbose=0)

    inputs = keras.Input(shape=(SIDE, SIDE, 3), name="image")
    probabilities = keras.layers.Identity(name="probabilities")(
        tail(keras.layers.AveragePooling2D(SCALE)(inputs))
    )
    label = keras.layers.Lambda(
        lambda p: keras.ops.cast(keras.ops.argmax(p, axis=-1), "int64"), name="label"
    )(probabilities)
    model = keras.Model(inputs, [probabilities, label])
    correct = 0
    for start in range(0, len(split.x_test), 60):
        probs = model.predict(upscale(split.x_test[start : start + 60]), verbose=0)[0]
        correct += int((probs.argmax(axis=1) == split.y_test[start : start + 60]).sum())
    return model, {"accuracy": correct / len(split.x_test)}
