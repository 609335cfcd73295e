"""scripts/install-deps: installs from the locks once, then only when a lock changes.

pip and npm are stand-ins that record their arguments, so the test runs in a second.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECORDER = '#!/bin/sh\necho "$(basename "$0") $*" >> "$CALLS"\n'


def _executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout with the real script, small lock files and recording pip/npm."""
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "scripts", root / "scripts")
    (root / "requirements").mkdir()
    for name in ("runtime.txt", "test.txt"):
        (root / "requirements" / name).write_text("aiohttp==1.0 --hash=sha256:00\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    for folder in ("web", "bench/node-peer"):
        (root / folder).mkdir(parents=True)
        (root / folder / "package-lock.json").write_text("{}\n")
    _executable(root / ".venv/bin/python", "#!/bin/sh\n")
    _executable(root / ".venv/bin/pip", RECORDER)
    # npm ci recreates node_modules, where the stamp lives.
    _executable(
        tmp_path / "bin/npm",
        RECORDER + 'mkdir -p "$3/node_modules"\n',
    )
    return root


def _install(root: Path, kind: str) -> list[str]:
    calls = root / "calls.log"
    calls.unlink(missing_ok=True)
    env = dict(os.environ, CALLS=str(calls), PATH=f"{root.parent / 'bin'}:{os.environ['PATH']}")
    subprocess.run(
        [str(root / "scripts/install-deps"), kind],
        check=True,
        env=env,
        capture_output=True,
        timeout=30,
    )
    return calls.read_text().splitlines() if calls.exists() else []


class TestStamps:
    def test_first_run_installs_from_the_locks(self, checkout: Path) -> None:
        """pip gets the lock with --require-hashes, then the project; npm ci runs for web."""
        calls = _install(checkout, "runtime")
        assert [
            "pip --quiet --disable-pip-version-check install --require-hashes "
            "-r requirements/runtime.txt",
            "pip --quiet --disable-pip-version-check install --no-deps -e .",
            "pip check --disable-pip-version-check",
            "npm ci --prefix web --no-audit --no-fund --loglevel=error",
        ] == calls

    def test_second_run_installs_nothing(self, checkout: Path) -> None:
        """With the locks unchanged, neither pip nor npm runs."""
        _install(checkout, "runtime")
        assert [] == _install(checkout, "runtime")

    def test_a_changed_lock_reinstalls_only_its_side(self, checkout: Path) -> None:
        """Editing the Python lock runs pip again, not npm; editing the npm lock, the reverse."""
        _install(checkout, "runtime")
        (checkout / "requirements/runtime.txt").write_text("aiohttp==2.0 --hash=sha256:01\n")
        assert ["pip"] == sorted({c.split()[0] for c in _install(checkout, "runtime")})
        (checkout / "web/package-lock.json").write_text('{"v": 2}\n')
        assert ["npm"] == [c.split()[0] for c in _install(checkout, "runtime")]

    def test_deleted_node_modules_is_reinstalled(self, checkout: Path) -> None:
        """The stamp lives inside node_modules, so deleting the folder deletes it too."""
        _install(checkout, "runtime")
        shutil.rmtree(checkout / "web/node_modules")
        assert ["npm ci --prefix web --no-audit --no-fund --loglevel=error"] == _install(
            checkout, "runtime"
        )

    def test_test_kind_uses_its_own_lock_and_the_node_peer(self, checkout: Path) -> None:
        """`test` installs requirements/test.txt and bench/node-peer as well."""
        calls = _install(checkout, "test")
        assert any("-r requirements/test.txt" in c for c in calls)
        assert any("--prefix bench/node-peer" in c for c in calls)

    def test_unknown_kind_is_refused(self, checkout: Path) -> None:
        """Anything but runtime|test exits 2 with a usage line."""
        result = subprocess.run(
            [str(checkout / "scripts/install-deps"), "prod"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert (2, "usage: scripts/install-deps runtime|test\n") == (
            result.returncode,
            result.stderr,
        )
