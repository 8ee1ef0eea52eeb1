"""The wheel carries what a deckrun outside this checkout needs from the checkout's root:
the Node packages' lock (package.json, package-lock.json: the pinned Marp CLI and browser
libraries, installed on first use) and the course theme `deckrun new` starts a course
with. They stay in one place in the repository; setuptools copies them in at build time."""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = {"package.json": "deckrun/core/node/package.json",
           "package-lock.json": "deckrun/core/node/package-lock.json",
           "themes/nmt-theme.css": "deckrun/course/starter/themes/nmt-theme.css"}


class BuildWithShippedFiles(build_py):
    def run(self) -> None:
        super().run()
        for source, target in SHIPPED.items():
            destination = Path(self.build_lib) / target
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes((ROOT / source).read_bytes())


# (build/ is the course's: setuptools works in a folder of its own)
setup(cmdclass={"build_py": BuildWithShippedFiles}, options={"build": {"build_base": ".wheel-build"}})
