"""The lock files (`make lock`) pin what pyproject.toml asks for, with hashes, and cannot drift from it;
the Docker image installs exactly the runtime part of what the tests ran on; the dependency ranges
exclude releases with known advisories."""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from config.settings import PROJECT_ROOT

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
RUNTIME_LOCK = PROJECT_ROOT / "requirements.lock"
DEV_LOCK = PROJECT_ROOT / "requirements-dev.lock"
# the newest release of each with a known advisory: the ranges must leave it out
VULNERABLE = {
    "starlette": "0.49.0",  # CVE-2025-62727; CVE-2025-54121 before 0.47.2, CVE-2024-47874 before 0.40
    "h11": "0.15.0",  # CVE-2025-43859
    "requests": "2.32.3",  # CVE-2024-47081
    "urllib3": "2.6.2",  # CVE-2026-21441; CVE-2025-66418, CVE-2025-66471 before 2.6.0
    "cryptography": "46.0.4",  # CVE-2026-26007; CVE-2024-12797 before 44.0.1
    "pyjwt": "2.10.0",  # CVE-2024-53861
}


def locked(path) -> dict[str, tuple[Version, Requirement, str]]:
    """name -> (version, the pin as a requirement, its whole entry), from a `uv pip compile` file."""
    entries = re.split(r"\n(?=[A-Za-z0-9])", path.read_text())
    pins = {}
    for entry in entries:
        if entry.startswith("#") or not entry.strip():
            continue
        requirement = Requirement(entry.split(" \\", 1)[0].split("\n", 1)[0].strip())
        [specifier] = requirement.specifier
        assert specifier.operator == "==", entry
        pins[canonicalize_name(requirement.name)] = (Version(specifier.version), requirement, entry)
    return pins


def direct(requirements: list[str]) -> list[Requirement]:
    return [Requirement(line) for line in requirements]


@pytest.mark.parametrize("lock, groups", [(RUNTIME_LOCK, ("runtime",)), (DEV_LOCK, ("runtime", "dev"))])
def test_every_direct_dependency_is_locked_within_its_range(lock, groups):
    pins = locked(lock)
    wanted = direct(PYPROJECT["dependencies"])
    if "dev" in groups:
        wanted += direct(PYPROJECT["optional-dependencies"]["dev"])
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock.name} lacks {requirement}: run `make lock`"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock.name} pins {name}=={version}, outside {requirement}: run `make lock`"
        )


def test_every_pin_carries_hashes():
    for lock in (RUNTIME_LOCK, DEV_LOCK):
        for name, (_, _, entry) in locked(lock).items():
            assert "--hash=sha256:" in entry, f"{lock.name}: {name} has no hash"


def test_the_image_ships_the_versions_the_tests_ran_on():
    dev = locked(DEV_LOCK)
    for name, (version, _, _) in locked(RUNTIME_LOCK).items():
        assert name in dev and dev[name][0] == version, (name, version, dev.get(name, [None])[0])


def test_the_ranges_and_the_locks_leave_out_releases_with_advisories():
    ranges = {canonicalize_name(r.name): r.specifier for r in direct(PYPROJECT["dependencies"])}
    pins = locked(RUNTIME_LOCK)
    for name, vulnerable in VULNERABLE.items():
        assert name in ranges, f"{name} needs a lower bound among the dependencies"
        assert not ranges[name].contains(vulnerable, prereleases=True), f"{name} {ranges[name]} admits {vulnerable}"
        assert pins[name][0] > Version(vulnerable), (name, pins[name][0])


def test_make_and_the_image_install_from_the_locks():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    recipe = makefile.split("$(BIN)/.installed:", 1)[1].split("\n\n", 1)[0]
    assert "$(DEV_LOCK)" in recipe.splitlines()[0], "the install stamp must depend on the dev lock"
    assert "--require-hashes -r $(DEV_LOCK)" in recipe and "--no-deps -e ." in recipe
    assert "DEV_LOCK := requirements-dev.lock" in makefile
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install[^\n]*--require-hashes[^\n]*-r [^\n]*requirements\.lock", dockerfile)
    assert "pyproject.toml" not in dockerfile.split("COPY . .")[0], "the image resolves nothing itself"
