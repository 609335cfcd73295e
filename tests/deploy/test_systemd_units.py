"""deploy/systemd: the units for a node and for the balancer, checked by systemd-analyze."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from chat_service.config import Settings

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SYSTEM_UNITS = Path("/usr/lib/systemd/system")


def _commands(unit: str) -> list[str]:
    """The executables a unit runs (ExecStart=, ExecStartPre=, ExecReload=)."""
    lines = re.findall(r"^Exec\w+=([^\s]+)", unit, re.M)
    return sorted({line.lstrip("-@+!:") for line in lines})


def _verify(tmp_path: Path, units: dict[str, str], *names: str) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify --root` over a folder that holds systemd's own units, these
    units and a stand-in file at each path they execute, as the installed machine would."""
    root = tmp_path / "root"
    shutil.copytree(SYSTEM_UNITS, root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    (root / "lib").symlink_to("usr/lib")
    target = root / "etc" / "systemd" / "system"
    target.mkdir(parents=True)
    for name, text in units.items():
        (target / name).write_text(text)
        for command in _commands(text):
            stub = root / command.lstrip("/")
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("#!/bin/sh\n")
            stub.chmod(0o755)
    argv = [str(shutil.which("systemd-analyze")), "verify", f"--root={root}", *names]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def shipped() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(UNITS.glob("*.service"))}


class TestSystemdAnalyze:
    def test_the_units_verify_without_a_warning(
        self, tmp_path: Path, shipped: dict[str, str]
    ) -> None:
        """Both units (the node as instance 5001) pass `systemd-analyze verify` silently."""
        result = _verify(tmp_path, shipped, "chat-service@5001.service", "chat-lb.service")
        assert (0, "") == (result.returncode, result.stderr.strip())

    def test_verify_reports_a_misspelt_key(self, tmp_path: Path, shipped: dict[str, str]) -> None:
        """The check is not vacuous: a misspelt key is reported."""
        broken = shipped["chat-lb.service"].replace("TimeoutStopSec", "TimeoutStpSec")
        result = _verify(tmp_path, {"chat-lb.service": broken}, "chat-lb.service")
        assert "Unknown key 'TimeoutStpSec'" in result.stderr


class TestWhatTheUnitsPromise:
    def test_the_node_is_killed_only_after_its_drain(self, shipped: dict[str, str]) -> None:
        """TimeoutStopSec outlasts CHAT_DRAIN_DELAY plus the drain's own deadline."""
        unit = shipped["chat-service@.service"]
        delay = float(re.findall(r"^Environment=CHAT_DRAIN_DELAY=(\S+)", unit, re.M)[0])
        stop = float(re.findall(r"^TimeoutStopSec=(\d+)", unit, re.M)[0])
        assert stop > delay + Settings.shutdown_timeout + 1.0

    def test_the_instance_is_the_port_and_wins(self, shipped: dict[str, str]) -> None:
        """CHAT_PORT comes from the instance name, set after the environment file."""
        unit = shipped["chat-service@.service"]
        lines = [ln for ln in unit.splitlines() if ln.startswith(("Environment", "ExecStart="))]
        assert "Environment=CHAT_PORT=%i" == lines[-2]

    def test_the_balancer_reads_the_shipped_config(self, shipped: dict[str, str]) -> None:
        """HAProxy is started with haproxy.cfg plus one upstreams file, checked first."""
        unit = shipped["chat-lb.service"]
        start = re.findall(r"^ExecStart=(.*)$", unit, re.M)[0]
        check = re.findall(r"^ExecStartPre=(.*)$", unit, re.M)[0]
        assert ("-f ${CHAT_LB_CONFIG} -f ${CHAT_LB_UPSTREAMS}", True) == (
            re.search(r"-f \S+ -f \S+", start).group(0),  # type: ignore[union-attr]
            " -c " in check,
        )
