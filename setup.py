"""Build hook: ship the browser side and the HAProxy config inside the wheel.

`web/` and `deploy/haproxy/` stay where they are edited; building copies their files into
`chat_service/web/` and `chat_tools/deploy/haproxy/` of the build tree, so an installed
package finds them beside its code, from any folder. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
CLIENT = "web/node_modules/socket.io-client/dist"
# Where in the package <- (folder of the checkout, glob of the files shipped).
SHIPPED = {
    "chat_service/web/templates": ("web/templates", "*.html"),
    "chat_service/web/static": ("web/static", "**/*"),
    "chat_service/web/node_modules/socket.io-client/dist": (CLIENT, "socket.io.min.js*"),
    "chat_tools/deploy/haproxy": ("deploy/haproxy", "*.cfg"),
}


class BuildWithAssets(build_py):
    """build_py, then the assets; an editable install reads them in place instead."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        if not (ROOT / CLIENT / "socket.io.min.js").is_file():
            raise SystemExit(
                "the browser client is missing: run `npm ci --prefix web` before building"
            )
        for target, (source, pattern) in SHIPPED.items():
            destination = Path(self.build_lib) / target
            # An in-tree build/ keeps files from earlier builds; never ship a deleted one.
            shutil.rmtree(destination, ignore_errors=True)
            for path in sorted((ROOT / source).glob(pattern)):
                if path.is_file():
                    copy = destination / path.relative_to(ROOT / source)
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    self.copy_file(str(path), str(copy))


setup(cmdclass={"build_py": BuildWithAssets})
