"""Time the face detector per call at the input sizes the finder uses, on one thread:
the product's CenterFace (ONNX Runtime) against the same model in OpenCV's DNN module.

    taskset -c 0 python3 scripts/bench_detector.py [--repeat 30]

Prints CPU ms per call (median of `--repeat` calls, after warm-up) for each size and
the ratio, and the largest difference between the two runtimes' heatmaps.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np

from edge.device.faces.centerface import CenterFace
from edge.device.faces.model import FACE_MODEL, verified_model_path

SIZES = [(64, 64), (96, 96), (128, 128), (160, 160), (320, 160), (544, 288), (640, 352)]
OUTPUTS = ["537", "538", "539", "540"]


def per_call_ms(call, repeat: int) -> float:
    for _ in range(3):
        call()
    times = []
    for _ in range(repeat):
        start = time.process_time()
        call()
        times.append(time.process_time() - start)
    return 1000 * statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    detector = CenterFace.load()
    model = np.frombuffer(verified_model_path(FACE_MODEL, None).read_bytes(), np.uint8)
    rng = np.random.default_rng(0)
    print(f"OpenCV {cv2.__version__}; one thread each; CPU ms per call, median")
    print(f"{'input':>9} {'onnxruntime':>12} {'cv2.dnn':>9} {'ratio':>6} {'max diff':>9}")
    for w, h in SIZES:
        image = rng.integers(0, 256, (h, w, 3), np.uint8)
        blob = cv2.dnn.blobFromImage(image, 1.0, (w, h), swapRB=True)
        net = cv2.dnn.readNetFromONNX(model)

        def opencv(net=net, blob=blob) -> list[np.ndarray]:
            net.setInput(blob)
            return net.forward(OUTPUTS)

        ours = per_call_ms(lambda image=image: detector.detect(image, 0.2), args.repeat)
        theirs = per_call_ms(opencv, args.repeat)
        diff = float(np.abs(detector.forward(blob)[0] - opencv()[0]).max())
        print(f"{w:>4}x{h:<4} {ours:>12.2f} {theirs:>9.2f} {theirs / ours:>6.2f} {diff:>9.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
