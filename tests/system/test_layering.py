"""The package's layering, checked from the source: three sides over a shared core.

The device side never imports the owner or home side; the owner and home sides never
import a device stage nor OpenCV; the core imports no side; outside the vault only the
vault's top level is used. Imports inside functions count too. And what a home server or
an owner laptop runs (`doorbell --help`, the owner and home modules) loads without OpenCV
or numpy installed.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "edge"

# (importer prefix, forbidden import prefixes)
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("edge.core", ("edge.device", "edge.owner", "edge.home", "edge.commands", "edge.cli")),
    ("edge.device", ("edge.owner", "edge.home", "edge.commands", "edge.cli")),
    ("edge.owner", ("edge.device", "edge.home", "edge.commands", "edge.cli", "cv2", "numpy")),
    ("edge.home", ("edge.device", "edge.owner", "edge.commands", "edge.cli", "cv2", "numpy")),
)
VAULT = "edge.core.vault"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool) -> set[tuple[str, bool]]:
    """Every module `source` imports, anywhere in it, as `(name, named_by_from)`: for
    `from X import y` that is `(X, False)` and `(X.y, True)`, since y may be a submodule."""
    found: set[tuple[str, bool]] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update((alias.name, False) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            found.add((origin, False))
            found.update((f"{origin}.{alias.name}", True) for alias in node.names)
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(modules: dict[str, tuple[str, bool]]) -> list[str]:
    """Broken rules, one line each, for `{module name: (source, is_package)}`."""
    problems = []
    for module, (source, is_package) in sorted(modules.items()):
        for name, named_by_from in sorted(imported_modules(source, module, is_package)):
            for importer, forbidden in RULES:
                if _within(module, importer) and any(_within(name, f) for f in forbidden):
                    problems.append(f"{module} imports {name}")
            # `from edge.core.vault import x` names the top level's x, not a submodule.
            inside = name.startswith(VAULT + ".") and not (
                named_by_from and name.rsplit(".", 1)[0] == VAULT
            )
            if inside and not _within(module, VAULT):
                problems.append(f"{module} reaches inside the vault: {name}")
    return problems


def package_sources() -> dict[str, tuple[str, bool]]:
    return {
        module_name(path): (path.read_text(encoding="utf-8"), path.name == "__init__.py")
        for path in PACKAGE.rglob("*.py")
    }


def test_the_package_keeps_its_layers() -> None:
    assert violations(package_sources()) == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("edge.device.recorder", "from edge.owner.share import share_clips", "edge.owner.share"),
        ("edge.owner.export", "def f():\n    import cv2\n", "cv2"),
        ("edge.home.witness", "from edge.device import motion", "edge.device"),
        ("edge.core.log.ledger", "from edge.home.witness import Witness", "edge.home.witness"),
        ("edge.owner.share", "from edge.core.vault.stream import CHUNK_SIZE", "vault"),
        ("edge.core.store.reading", "from ..vault.x25519 import X25519Identity", "vault"),
        ("edge.device.store.segments", "import edge.core.vault.stream", "vault"),
    ],
)
def test_a_forbidden_import_is_caught(module: str, source: str, expected: str) -> None:
    sources = package_sources()
    sources[module] = (sources.get(module, ("", False))[0] + "\n" + source, False)
    assert any(expected in problem for problem in violations(sources))


def test_the_vault_top_level_and_own_modules_are_allowed() -> None:
    sources = {
        "edge.owner.share": ("from edge.core.vault import open_reader\n", False),
        "edge.core.vault.reader": ("from edge.core.vault.stream import StreamReader\n", False),
    }
    assert violations(sources) == []


# Makes `import cv2` and `import numpy` fail, as on a home server installed without the
# device extra, then loads what such a machine runs.
_WITHOUT_OPENCV = """
import importlib, pkgutil, sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('cv2', 'numpy'):
            raise ModuleNotFoundError(f'No module named {name!r} (not installed here)')
sys.meta_path.insert(0, Absent())
import edge.owner, edge.home
for package in (edge.owner, edge.home):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):
        importlib.import_module(info.name)
from edge.cli import main
for argv in (['--help'], ['clips', '--help'], ['watch', '--help'], ['export', '--help'],
             ['verify', '--help'], ['decrypt', '--help'], ['keygen', '--help']):
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code == 0, (argv, exc.code)
loaded = sorted(m for m in ('cv2', 'av', 'numpy') if m in sys.modules)
print('LOADED', loaded)
"""


def test_home_and_owner_commands_run_without_opencv() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_OPENCV],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout
