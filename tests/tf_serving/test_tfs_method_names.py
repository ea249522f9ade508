"""``--enable_signature_method_name_check``: off by default, as in TF Serving.

Off, classify/regress take any signature whose inputs/outputs fit (TF2 exports mark every
signature "predict"); on, the method name must match (``classifier.cc`` / ``regressor.cc``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tf_serving.server.errors import InvalidArgument
from tf_serving.server.servable import Servable


@pytest.fixture(scope="module")
def tf1_dir(model_store: Path) -> Path:
    return model_store / "tf1" / "1"


def test_off_by_default_checks_inputs_and_outputs_instead(tf1_dir: Path) -> None:
    servable = Servable("tf1", 1, tf1_dir)
    signature = servable.classification_signature("")  # serving_default: a predict signature
    with pytest.raises(InvalidArgument, match="No classification inputs found in SignatureDef"):
        servable.classify(signature, [b""])
    assert servable.regression_signature("regress_x").name == "regress_x"


def test_on_refuses_the_wrong_method(tf1_dir: Path) -> None:
    servable = Servable("tf1", 1, tf1_dir, check_method_names=True)
    with pytest.raises(InvalidArgument) as info:
        servable.classification_signature("")
    assert info.value.message == (
        "Expected classification signature method_name to be tensorflow/serving/classify. "
        "Was: tensorflow/serving/predict"
    )
    with pytest.raises(InvalidArgument, match="Expected regression signature method_name"):
        servable.regression_signature("classify_x")
    assert servable.classification_signature("classify_x").name == "classify_x"
