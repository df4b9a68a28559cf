"""CenterFace face detector (ONNX, run by OpenCV's DNN module).

CenterFace was chosen by measurement (see `models/centerface.md`): it finds faces down
to ~16-20 px at the size it is run at, on one CPU thread, with no runtime beyond OpenCV.
It is fully convolutional, so the caller runs it on crops of any size at whatever scale
suits the faces it expects there. One network is kept per input size: OpenCV 4.x (the
Pi's, held below 4.12 by `numpy<2`) gives wrong outputs when one network is run at a new
input size after another (wrong box sizes, `exp` overflows), OpenCV 5 does not.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from edge.device.faces.model import FACE_MODEL, ModelError, verified_model_path
from edge.device.frame import Box

_OUTPUTS = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks
_STRIDE = 4  # output cell size in input pixels
_ALIGN = 32  # input sides must be multiples of this
_NMS_IOU = 0.3
_NETS_KEPT = 8  # networks kept, one per input size, least recently used dropped


class CenterFace:
    """Detects faces in BGR images; boxes come back in the image's own pixels."""

    def __init__(self, model: np.ndarray) -> None:
        self._model = model
        self._nets: OrderedDict[tuple[int, int], cv2.dnn.Net] = OrderedDict()

    @classmethod
    def load(cls, models_dir: Path | None = None) -> CenterFace:
        """Load the hash-checked model from `models_dir` (default: where models are
        installed, see `edge.device.faces.model`); raises ModelError."""
        path = verified_model_path(FACE_MODEL, models_dir)
        model = np.frombuffer(path.read_bytes(), np.uint8)
        try:
            cv2.dnn.readNetFromONNX(model)
        except cv2.error as exc:
            raise ModelError(f"OpenCV cannot load {path}: {exc}") from exc
        return cls(model)

    def _net(self, size: tuple[int, int]) -> cv2.dnn.Net:
        """The network for inputs of this size (made on first use)."""
        net = self._nets.pop(size, None)
        if net is None:
            net = cv2.dnn.readNetFromONNX(self._model)
        self._nets[size] = net
        while len(self._nets) > _NETS_KEPT:
            self._nets.popitem(last=False)
        return net

    def detect(self, image: np.ndarray, threshold: float) -> list[Box]:
        """Faces in a BGR image whose heatmap score is at least `threshold`."""
        h, w = image.shape[:2]
        padded_w = -(-w // _ALIGN) * _ALIGN
        padded_h = -(-h // _ALIGN) * _ALIGN
        if (padded_w, padded_h) != (w, h):
            image = cv2.copyMakeBorder(
                image, 0, padded_h - h, 0, padded_w - w, cv2.BORDER_CONSTANT, value=0
            )
        # The network was trained on RGB in 0..255 with no normalisation.
        blob = cv2.dnn.blobFromImage(image, 1.0, (padded_w, padded_h), swapRB=True)
        net = self._net((padded_w, padded_h))
        net.setInput(blob)
        heat, scale, offset, _ = net.forward(_OUTPUTS)
        return _decode(heat[0, 0], scale[0], offset[0], threshold)


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
