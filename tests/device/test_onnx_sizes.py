"""Freeing the face model's input size: the rewritten graph runs at any size in ONNX
Runtime and computes what the untouched model computes (checked against OpenCV's own
ONNX importer, which ignores the declared size); malformed models are refused."""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime
import pytest

from edge.device.faces.model import FACE_MODEL, ModelError, verified_model_path
from edge.device.faces.onnx_sizes import ModelFormatError, free_image_size

OUTPUTS = ["537", "538", "539", "540"]


@pytest.fixture(scope="module")
def model() -> bytes:
    try:
        return verified_model_path(FACE_MODEL, None).read_bytes()
    except ModelError as exc:
        pytest.skip(f"face model not installed ({exc})")


@pytest.fixture(scope="module")
def session(model: bytes) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(
        free_image_size(model), options, providers=["CPUExecutionProvider"]
    )


def test_declared_input_is_fixed_before_and_free_after(model: bytes) -> None:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    fixed = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    assert fixed.get_inputs()[0].shape == [10, 3, 32, 32]
    with pytest.raises(Exception, match="dimensions"):
        fixed.run(OUTPUTS, {"input.1": np.zeros((1, 3, 64, 96), np.float32)})

    freed = onnxruntime.InferenceSession(
        free_image_size(model), options, providers=["CPUExecutionProvider"]
    )
    (image_input,) = freed.get_inputs()  # the weights listed as inputs are gone
    assert image_input.shape[:2] == [1, 3]
    assert all(isinstance(d, str) for d in image_input.shape[2:])
    assert [o.name for o in freed.get_outputs()] == OUTPUTS


@pytest.mark.parametrize("size", [(32, 32), (64, 96), (160, 128), (544, 288)])
def test_outputs_match_the_untouched_model(
    model: bytes, session: onnxruntime.InferenceSession, size: tuple[int, int]
) -> None:
    w, h = size
    blob = np.random.default_rng(w * h).uniform(0, 255, (1, 3, h, w)).astype(np.float32)
    net = cv2.dnn.readNetFromONNX(np.frombuffer(model, np.uint8))
    net.setInput(blob)
    expected = net.forward(OUTPUTS)
    got = session.run(OUTPUTS, {"input.1": blob})
    for e, g in zip(expected, got, strict=True):
        assert g.shape == e.shape == (1, e.shape[1], h // 4, w // 4)
        np.testing.assert_allclose(g, e, atol=1e-3, rtol=1e-3)


def test_the_same_session_answers_sizes_in_any_order(session: onnxruntime.InferenceSession) -> None:
    rng = np.random.default_rng(7)
    blobs = [rng.uniform(0, 255, (1, 3, h, w)).astype(np.float32) for w, h in [(64, 64), (96, 160)]]
    first = [session.run(OUTPUTS, {"input.1": b}) for b in blobs]
    again = [session.run(OUTPUTS, {"input.1": b}) for b in reversed(blobs)][::-1]
    for a, b in zip(first, again, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize(
    "data",
    [
        b"\x3a\x05abc",  # field 7 (graph) says 5 bytes, 3 follow
        b"\x3a\x80",  # a length whose varint never ends
        b"\x3b\x00",  # wire type 3 (groups) is not used by ONNX
        b"\x00\x01",  # field number 0
    ],
)
def test_malformed_models_are_refused(data: bytes) -> None:
    with pytest.raises(ModelFormatError):
        free_image_size(data)


def test_an_input_that_is_not_an_image_is_refused() -> None:
    dim = b"\x0a\x02\x08\x01"  # TensorShapeProto.dim { dim_value: 1 }
    shape = b"\x12" + bytes([len(dim)]) + dim  # Tensor.shape with one dimension
    tensor = b"\x0a" + bytes([len(shape)]) + shape  # TypeProto.tensor_type
    value = b"\x0a\x01x\x12" + bytes([len(tensor)]) + tensor  # ValueInfoProto x
    graph = b"\x5a" + bytes([len(value)]) + value  # GraphProto.input
    with pytest.raises(ModelFormatError, match="'x' has 1 dimensions"):
        free_image_size(b"\x3a" + bytes([len(graph)]) + graph)


def test_fields_it_does_not_touch_are_kept_byte_for_byte(model: bytes) -> None:
    freed = free_image_size(model)
    assert freed != model
    # The weights are almost all of the file and pass through unchanged.
    assert len(model) - len(freed) < 20_000
    middle = len(model) // 2
    assert model[middle : middle + 1_000_000] in freed
