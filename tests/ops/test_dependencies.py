"""The lock files: every dependency of pyproject.toml locked, at a version its specifier allows, every
pin with hashes; the image's lock the same versions as CI's. The SBOM lists what the image installs.

When a test here fails after a dependency was added or changed, run `make lock` (README)."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def locked(path: str) -> dict[str, tuple[str, list[str]]]:
    """name → (version, hashes) of a uv/pip-tools lock file."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in (ROOT / path).read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = (match.group(2), [])
        for digest in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            assert current is not None, f"{path}: a hash before any pin"
            pins[current][1].append(digest)
    return pins


RUNTIME = locked("requirements.lock")
DEV = locked("requirements-dev.lock")


def _check(requirements: list[str], pins: dict, lock_name: str) -> list[str]:
    problems = []
    for text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement.name} is not in {lock_name}")
        elif not requirement.specifier.contains(pins[name][0], prereleases=True):
            problems.append(
                f"{lock_name} has {requirement.name}=={pins[name][0]}, pyproject wants {requirement.specifier}"
            )
    return problems


def test_every_runtime_dependency_is_locked_at_an_allowed_version():
    problems = _check(PYPROJECT["project"]["dependencies"], RUNTIME, "requirements.lock")
    assert not problems, "run `make lock`: " + "; ".join(problems)


def test_every_dev_dependency_is_locked_at_an_allowed_version():
    everything = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["dev"]
    problems = _check(everything, DEV, "requirements-dev.lock")
    assert not problems, "run `make lock`: " + "; ".join(problems)


@pytest.mark.parametrize("path", ["requirements.lock", "requirements-dev.lock", "requirements-build.lock"])
def test_every_pin_has_hashes(path):
    pins = locked(path)
    assert pins
    unhashed = [name for name, (_, hashes) in pins.items() if not hashes]
    assert not unhashed, f"{path}: no hash for {unhashed}"


def test_the_image_runs_the_versions_ci_tests():
    differ = {
        name: (v, DEV.get(name, (None,))[0])
        for name, (v, _) in RUNTIME.items()
        if DEV.get(name, (None,))[0] != v
    }
    assert not differ, f"requirements.lock and requirements-dev.lock disagree (run `make lock`): {differ}"


def test_the_lock_check_catches_a_missing_dependency():
    # The check above can fail: a dependency pyproject names and the lock lacks, or pins out of range.
    assert _check(["left-pad>=1"], RUNTIME, "requirements.lock") == ["left-pad is not in requirements.lock"]
    flask = RUNTIME["flask"][0]
    assert _check([f"flask>{flask}"], RUNTIME, "requirements.lock")


def test_the_sbom_lists_every_locked_package(tmp_path):
    out = tmp_path / "sbom.cdx.json"
    subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "cyclonedx-py"),
            "requirements",
            str(ROOT / "requirements.lock"),
            "--pyproject",
            str(ROOT / "pyproject.toml"),
            "--of",
            "JSON",
            "-o",
            str(out),
        ],
        check=True,
        capture_output=True,
        cwd=str(ROOT),
    )
    bom = json.loads(out.read_text())
    assert bom["bomFormat"] == "CycloneDX"
    assert bom["metadata"]["component"]["name"] == PYPROJECT["project"]["name"]
    components = {canonicalize_name(c["name"]): c for c in bom["components"]}
    for name, (version, _) in RUNTIME.items():
        assert components[name]["version"] == version
        assert components[name]["purl"] == f"pkg:pypi/{name}@{version}"
