"""The one error type of the wire contract.

Callers translate it at their boundary: the gateway into ``InvalidTensor`` (when ``tensor`` is
set) or ``BadRequest``, the TorchServe handler into a 400 answer.
"""

from __future__ import annotations


class WireError(ValueError):
    """A body or tensor that breaks its wire format or the model's spec.

    ``tensor`` names the tensor at fault, ``None`` when the body as a whole is wrong.
    """

    def __init__(self, message: str, *, tensor: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.tensor = tensor
