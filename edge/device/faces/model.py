"""Find a face model file under `models/` and prove it is the pinned one before loading.

The manifest `models/MODELS.toml` names each model's file, its SHA-256 and the wheel it
is extracted from. Nothing is downloaded at run time: a missing or altered file is a
`ModelError`, which the redaction stage turns into fail-closed frames.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from edge.core.hashing import sha256_file

MODELS_DIR = Path(__file__).resolve().parents[3] / "models"
MANIFEST = "MODELS.toml"


class ModelError(Exception):
    """A model file is missing, unreadable or not the file the manifest pins."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One manifest entry: where the file comes from and the hash it must have."""

    name: str
    file: str
    sha256: str
    package: str
    version: str
    member: str
    licence: str


def read_manifest(models_dir: Path = MODELS_DIR) -> dict[str, ModelSpec]:
    """Parse `MODELS.toml` in `models_dir` into specs keyed by model name."""
    path = models_dir / MANIFEST
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"cannot read model manifest {path}: {exc}") from exc
    try:
        return {name: ModelSpec(name=name, **fields) for name, fields in tables.items()}
    except TypeError as exc:
        raise ModelError(f"bad entry in {path}: {exc}") from exc


def verified_model_path(name: str, models_dir: Path = MODELS_DIR) -> Path:
    """Path of model `name` after checking it exists and matches the manifest's hash."""
    specs = read_manifest(models_dir)
    if name not in specs:
        raise ModelError(f"model {name!r} is not in {models_dir / MANIFEST}")
    spec = specs[name]
    path = models_dir / spec.file
    if not path.is_file():
        raise ModelError(f"model file {path} is missing; run scripts/install_models.py")
    actual, _ = sha256_file(path)
    if actual != spec.sha256:
        raise ModelError(f"model file {path} has SHA-256 {actual}, expected {spec.sha256}")
    return path
