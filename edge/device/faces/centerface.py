"""CenterFace face detector (ONNX, run by ONNX Runtime on one CPU thread).

CenterFace was chosen by measurement (see `models/centerface.md`): it finds faces down
to ~16-20 px at the size it is run at, on one CPU thread. It is fully convolutional, so
the caller runs it on crops of any size at whatever scale suits the faces it expects
there; the model file declares one fixed size, which `edge.device.faces.onnx_sizes`
frees when loading it. ONNX Runtime runs it about twice as fast as OpenCV's DNN module
with the same outputs (docs/PERFORMANCE.md), and one session serves every input size
(OpenCV 4.x, the Pi's, gave wrong outputs when one network was run at a new size).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime

from edge.device.faces.model import FACE_MODEL, ModelError, verified_model_path
from edge.device.faces.onnx_sizes import free_image_size
from edge.device.frame import Box

_INPUT = "input.1"
_OUTPUTS = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks
_STRIDE = 4  # output cell size in input pixels
_ALIGN = 32  # input sides must be multiples of this
_NMS_IOU = 0.3
_ERRORS_ONLY = 3  # ONNX Runtime's log severity: the model's unused weights warn


class CenterFace:
    """Detects faces in BGR images; boxes come back in the image's own pixels."""

    def __init__(self, session: onnxruntime.InferenceSession) -> None:
        self._session = session

    @classmethod
    def load(cls, models_dir: Path | None = None) -> CenterFace:
        """Load the hash-checked model from `models_dir` (default: where models are
        installed, see `edge.device.faces.model`); raises ModelError."""
        path = verified_model_path(FACE_MODEL, models_dir)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = _ERRORS_ONLY
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = onnxruntime.InferenceSession(
                free_image_size(path.read_bytes()), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ModelFormatError, or any of ONNX Runtime's own
            raise ModelError(f"ONNX Runtime cannot load {path}: {exc}") from exc
        return cls(session)

    def detect(self, image: np.ndarray, threshold: float) -> list[Box]:
        """Faces in a BGR image whose heatmap score is at least `threshold`."""
        heat, scale, offset, _ = self.forward(_blob(image))
        return _decode(heat[0, 0], scale[0], offset[0], threshold)

    def forward(self, blob: np.ndarray) -> list[np.ndarray]:
        """The network's raw outputs (heatmap, scale, offset, landmarks) for an NCHW blob."""
        return self._session.run(_OUTPUTS, {_INPUT: blob})


def _blob(image: np.ndarray) -> np.ndarray:
    """The network's input for a BGR image: RGB planes in 0..255 (it was trained on those,
    with no normalisation), zero-padded at the right and bottom to multiples of 32.

    Copying plane by plane costs a fifth of `cv2.dnn.blobFromImage` on a whole scan
    (0.18 against 1.0 ms at 544x288) and the same on crops.
    """
    h, w = image.shape[:2]
    blob = np.zeros((1, 3, -(-h // _ALIGN) * _ALIGN, -(-w // _ALIGN) * _ALIGN), np.float32)
    for channel in range(3):
        blob[0, 2 - channel, :h, :w] = image[:, :, channel]
    return blob


def _decode(heat: np.ndarray, scale: np.ndarray, offset: np.ndarray, threshold: float) -> list[Box]:
    rows, cols = np.nonzero(heat >= threshold)
    if rows.size == 0:
        return []
    scores = heat[rows, cols]
    hs = np.exp(scale[0, rows, cols]) * _STRIDE
    ws = np.exp(scale[1, rows, cols]) * _STRIDE
    cy = (rows + offset[0, rows, cols] + 0.5) * _STRIDE
    cx = (cols + offset[1, rows, cols] + 0.5) * _STRIDE
    xywh = np.stack([cx - ws / 2, cy - hs / 2, ws, hs], axis=1)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), threshold, _NMS_IOU)
    return [
        Box(float(x), float(y), float(bw), float(bh), float(scores[k]))
        for k in np.asarray(keep).reshape(-1)
        for x, y, bw, bh in (xywh[k],)
    ]
