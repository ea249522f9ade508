"""Compressed request bodies (issue 12): gzip and deflate decoded once, the body limit on the
decoded size, 415 for other encodings, 400 for a body that is not what it claims."""

from __future__ import annotations

import gzip
import zlib

import orjson
import pytest
from gateway_testkit import pixels

PREDICT = "/v1/models/digits_mlp_tf:predict"
BODY = orjson.dumps({"instances": pixels(2)})


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", _raw_deflate),
        ("GZIP", gzip.compress),
        ("identity", lambda b: b),
        ("deflate, gzip", lambda b: gzip.compress(zlib.compress(b))),
    ],
)
async def test_encoded_body_answers_as_plain(client, encoding, encode):
    plain = await client.post(PREDICT, content=BODY, headers={"Content-Type": "application/json"})
    assert plain.status_code == 200
    response = await client.post(
        PREDICT,
        content=encode(BODY),
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert response.status_code == 200, response.text
    assert response.content == plain.content


async def test_v2_binary_body_gzip(client):
    import numpy as np

    x = np.asarray(pixels(1), np.float32)
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "pixels",
                    "datatype": "FP32",
                    "shape": [1, 64],
                    "parameters": {"binary_data_size": x.nbytes},
                }
            ]
        }
    )
    response = await client.post(
        "/v2/models/digits_mlp_tf/infer",
        content=gzip.compress(header + x.tobytes()),
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Encoding": "gzip",
            "Inference-Header-Content-Length": str(len(header)),
        },
    )
    assert response.status_code == 200, response.text
    assert {o["name"] for o in response.json()["outputs"]} == {"probabilities", "label"}


async def test_compression_bomb_is_413(make_client, settings):
    small = settings.model_copy(update={"max_body_bytes": 64 * 1024})
    bomb = gzip.compress(b" " * (64 * 1024 * 1024))  # 64 MiB of spaces in about 64 KiB
    assert len(bomb) < 64 * 1024
    async with make_client(small) as client:
        response = await client.post(
            PREDICT,
            content=bomb,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
    assert response.status_code == 413
    assert "limit" in response.json()["error"]


@pytest.mark.parametrize(
    ("encoding", "content", "status", "fragment"),
    [
        ("br", BODY, 415, "br"),
        ("compress", BODY, 415, "gzip"),
        ("gzip", BODY, 400, "gzip"),  # claims gzip, is plain JSON
        ("gzip", gzip.compress(BODY)[:-12], 400, "truncated"),
        ("gzip", gzip.compress(BODY) + b"junk", 400, "after the gzip stream"),
        ("deflate", b"\x00\x01\x02 not deflate", 400, "deflate"),
    ],
)
async def test_bad_encodings(client, encoding, content, status, fragment):
    response = await client.post(
        PREDICT,
        content=content,
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]
