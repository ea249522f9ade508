"""The TF1-session runner, used for graphs that ``tf.saved_model.load`` cannot wrap.

TF Serving runs every SavedModel in a session fed by tensor name, without the Python
client's feed-shape check. Upstream's ``saved_model_half_plus_three`` (a TF 1.0 export)
needs this path here; it was checked locally against that file (not vendored). These
tests drive the runner on this suite's half_plus_two equivalent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tfs_fixture_models import write_half_plus_two

from tf_serving.server import codec
from tf_serving.server.errors import InvalidArgument
from tf_serving.server.servable import Servable, SessionModel, read_signatures


@pytest.fixture(scope="module")
def half_plus_two(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_half_plus_two(tmp_path_factory.mktemp("hp2") / "00000123")


def test_session_feeds_any_shape_the_ops_take(half_plus_two: Path) -> None:
    signature = read_signatures(half_plus_two)["serving_default"]  # x: float[-1,1]
    model = SessionModel(half_plus_two)
    out = model.run(signature, {"x": np.array([2.0, 3.0, 4.0], np.float32)}, ["y"])
    assert out["y"].tolist() == [3.0, 3.5, 4.0]
    out = model.run(signature, {"x": np.array([[1.0, 2.0]], np.float32)}, ["y"])
    assert out["y"].tolist() == [[2.5, 3.0]]


def test_servable_on_the_session_path(half_plus_two: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def cannot_wrap(*args: object, **kwargs: object) -> None:
        raise ValueError("Shape must be rank 1 but is rank 0")  # what half_plus_three hits

    monkeypatch.setattr("tf_serving.server.servable.tf.saved_model.load", cannot_wrap)
    servable = Servable("half_plus_two", 123, half_plus_two)
    examples = codec.decode_examples({"examples": [{"x": 80.0}]})
    assert servable.regress(servable.regression_signature("regress_x_to_y2"), examples) == [43.0]
    rows = servable.classify(servable.classification_signature("classify_x_to_y"), examples)
    assert rows == [[("", 42.0)]]
    with pytest.raises(InvalidArgument, match="Type mismatch"):
        servable.run(servable.signature(""), {"x": np.array([b"a"], object)})
