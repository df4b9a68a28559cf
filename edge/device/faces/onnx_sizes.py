"""Free the input size of an ONNX model that was exported for one fixed size.

The CenterFace model declares its input as 10x3x32x32. It is fully convolutional, so
it runs at any size, but ONNX Runtime refuses inputs whose shape differs from the
declared one. This module rewrites the model's serialized graph (the protobuf wire
format, read and written here directly: the `onnx` package is not needed for this one
edit) so that the batch is 1 and the height and width of the input and every output
are named, free dimensions. It also drops graph inputs that are really weights
(initializers listed as inputs by old exporters), which would keep ONNX Runtime from
folding them as constants.

Field numbers are those of onnx.proto: ModelProto.graph = 7; GraphProto.initializer
= 5, input = 11, output = 12; ValueInfoProto.name = 1, type = 2; TypeProto.tensor_type
= 1; TypeProto.Tensor.shape = 2; TensorShapeProto.dim = 1; Dimension.dim_value = 1,
dim_param = 2; TensorProto.name = 8.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5

_MODEL_GRAPH = 7
_GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT = 5, 11, 12
_VALUE_NAME, _VALUE_TYPE = 1, 2
_TYPE_TENSOR = 1
_TENSOR_SHAPE = 2
_SHAPE_DIM = 1
_DIM_VALUE, _DIM_PARAM = 1, 2
_INITIALIZER_NAME = 8


class ModelFormatError(ValueError):
    """The bytes are not a model this module can rewrite."""


def free_image_size(model: bytes) -> bytes:
    """`model` with batch 1 and free height and width on its input and outputs; raises
    ModelFormatError when the bytes are not a protobuf message or an image is not NCHW."""
    return _rewrite(model, {_MODEL_GRAPH: _graph})


def _graph(graph: bytes) -> bytes:
    weights = {
        _string_field(item, _INITIALIZER_NAME)
        for field, _, item in _fields(graph)
        if field == _GRAPH_INITIALIZER
    }

    def graph_input(value: bytes) -> bytes | None:
        if _string_field(value, _VALUE_NAME) in weights:
            return None
        return _value_info(value)

    return _rewrite(graph, {_GRAPH_INPUT: graph_input, _GRAPH_OUTPUT: _value_info})


def _value_info(value: bytes) -> bytes:
    name = _string_field(value, _VALUE_NAME)

    def shape(data: bytes) -> bytes:
        dims = [item for field, _, item in _fields(data) if field == _SHAPE_DIM]
        if len(dims) != 4:
            raise ModelFormatError(f"{name!r} has {len(dims)} dimensions, not 4 (NCHW)")
        free = [
            _key(_DIM_VALUE, _VARINT) + _varint(1),
            dims[1],
            _bytes_field(_DIM_PARAM, f"{name}_height".encode()),
            _bytes_field(_DIM_PARAM, f"{name}_width".encode()),
        ]
        return _rewrite(data, {_SHAPE_DIM: lambda _: None}) + b"".join(
            _bytes_field(_SHAPE_DIM, dim) for dim in free
        )

    def tensor(data: bytes) -> bytes:
        return _rewrite(data, {_TENSOR_SHAPE: shape})

    return _rewrite(value, {_VALUE_TYPE: lambda t: _rewrite(t, {_TYPE_TENSOR: tensor})})


def _rewrite(data: bytes, edits: dict[int, Callable[[bytes], bytes | None]]) -> bytes:
    """`data` with each length-delimited field in `edits` replaced (or dropped on None)."""
    out = bytearray()
    for field, raw, payload in _fields(data):
        edit = edits.get(field)
        if edit is None:
            out += raw
            continue
        new = edit(payload)
        if new is not None:
            out += _bytes_field(field, new)
    return bytes(out)


def _fields(data: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    """(field number, the field's raw bytes, its payload) for each field of a message."""
    pos = 0
    while pos < len(data):
        start = pos
        key, pos = _read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == _VARINT:
            _, pos = _read_varint(data, pos)
            payload = b""
        elif wire == _BYTES:
            size, pos = _read_varint(data, pos)
            payload = data[pos : pos + size]
            if len(payload) != size:
                raise ModelFormatError("a field runs past the end of its message")
            pos += size
        elif wire in (_FIXED64, _FIXED32):
            pos += 8 if wire == _FIXED64 else 4
            payload = b""
        else:
            raise ModelFormatError(f"unsupported protobuf wire type {wire}")
        if field == 0 or pos > len(data):
            raise ModelFormatError("not a protobuf message")
        yield field, data[start:pos], payload


def _string_field(message: bytes, number: int) -> str:
    for field, _, payload in _fields(message):
        if field == number:
            return payload.decode("utf-8", "replace")
    return ""


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ModelFormatError("a varint runs past the end of the data")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _bytes_field(field: int, payload: bytes) -> bytes:
    return _key(field, _BYTES) + _varint(len(payload)) + payload
