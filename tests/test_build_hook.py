"""hatch_build.py: installing llmkit compiles the scanners' C extension, or says why not.

Wheels are built from this checkout with pip (no build isolation: hatchling and setuptools
come from the ``test`` extra), with the compiler broken on purpose where a test needs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")
PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v"]


def build_wheel(out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("LLMKIT_BUILD")
    }
    return subprocess.run(
        [*PIP_WHEEL, "-w", str(out), str(ROOT)],
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def wheel_files(out: Path) -> tuple[str, list[str]]:
    (wheel,) = out.glob("llmkit-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return wheel.name, archive.namelist()


def test_a_wheel_carries_the_compiled_scanners(tmp_path):
    built = build_wheel(tmp_path)
    assert built.returncode == 0, built.stderr[-2000:]
    name, files = wheel_files(tmp_path)
    assert "-py3-none-any" not in name  # a platform wheel
    assert f"llmkit/tools/_speedups{SUFFIX}" in files
    assert "llmkit/tools/_speedups.c" not in files  # the source stays in the sdist


def test_without_a_compiler_the_install_goes_on_pure_and_says_so(tmp_path):
    built = build_wheel(tmp_path, CC="/bin/false")
    assert built.returncode == 0, built.stderr[-2000:]
    assert "compiled scanners were not built" in built.stdout + built.stderr
    name, files = wheel_files(tmp_path)
    assert name.endswith("-py3-none-any.whl")
    assert not any("_speedups" in file and not file.endswith(".pyi") for file in files)


def test_strict_builds_fail_without_a_compiler(tmp_path):
    built = build_wheel(tmp_path, CC="/bin/false", LLMKIT_BUILD_STRICT="1")
    assert built.returncode != 0
    assert not list(tmp_path.glob("*.whl"))


def test_build_pure_skips_the_compiler(tmp_path):
    built = build_wheel(tmp_path, LLMKIT_BUILD_PURE="1", CC="/bin/false", LLMKIT_BUILD_STRICT="1")
    assert built.returncode == 0, built.stderr[-2000:]
    name, _ = wheel_files(tmp_path)
    assert name.endswith("-py3-none-any.whl")
