"""Keras 3 (TensorFlow backend) digit classifiers with two outputs: probabilities and label."""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from examples.digits.data import SEED, Split, load_split


def _train_with_heads(inputs: Any, hidden: Any, split: Split, shape: tuple[int, ...]) -> Any:
    """Train on probabilities alone, then return a model that also outputs the argmax label."""
    import keras

    probabilities = keras.layers.Dense(10, activation="softmax", name="probabilities")(hidden)
    trainer = keras.Model(inputs, probabilities)
    trainer.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
    )
    trainer.fit(
        split.x_train.reshape(-1, *shape), split.y_train, epochs=30, batch_size=64, verbose=0
    )
    label = keras.layers.Lambda(
        lambda p: keras.ops.cast(keras.ops.argmax(p, axis=-1), "int64"), name="label"
    )(probabilities)
    return keras.Model(inputs, [probabilities, label])


def _accuracy(model: Any, split: Split, shape: tuple[int, ...]) -> dict[str, float]:
    probs = model.predict(split.x_test.reshape(-1, *shape), verbose=0)[0]
    return {"accuracy": float((probs.argmax(axis=1) == split.y_test).mean())}


def train_mlp() -> tuple[Any, dict[str, float]]:
    """Input `pixels` (batch, 64) → `probabilities` (batch, 10), `label` (batch,)."""
    import keras

    keras.utils.set_random_seed(SEED)
    split = load_split()
    inputs = keras.Input(shape=(64,), name="pixels")
    hidden = keras.layers.Dense(128, activation="relu")(inputs)
    hidden = keras.layers.Dense(64, activation="relu")(hidden)
    model = _train_with_heads(inputs, hidden, split, (64,))
    return model, _accuracy(model, split, (64,))


def train_cnn() -> tuple[Any, dict[str, float]]:
    """Input `image` (batch, 8, 8, 1) NHWC → `probabilities` (batch, 10), `label` (batch,)."""
    import keras

    keras.utils.set_random_seed(SEED)
    split = load_split()
    inputs = keras.Input(shape=(8, 8, 1), name="image")
    hidden = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    hidden = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(hidden)
    hidden = keras.layers.MaxPooling2D(2)(hidden)
    hidden = keras.layers.Flatten()(hidden)
    hidden = keras.layers.Dense(64, activation="relu")(hidden)
    model = _train_with_heads(inputs, hidden, split, (8, 8, 1))
    return model, _accuracy(model, split, (8, 8, 1))
