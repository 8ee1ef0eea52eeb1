"""A course as a lecturer brings it: decks in week folders, a Marp configuration with its
own theme set, text that Jinja would read, image names in code and prose, a deck written
for Marp alone, the lecturer's own kernel (and another language's), old notebooks, and
the Marp CLI installed once by two processes at the same time."""
from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.course import REPO, only_deck, only_decks, run_build
from helpers.serving import Watching

WEEK = """---
marp: true
theme: nmt-theme
---

# Week {n}

![w:120](img/logo.svg)

```python run
print("week", {n})
```
"""


@pytest.fixture
def weeks(course: Path) -> Path:
    """A course with a deck in each week's folder, each with an image beside it."""
    only_decks(course, {})
    for n in (1, 2):
        folder = course / "slides" / f"week{n}"
        (folder / "img").mkdir(parents=True)
        shutil.copy(REPO / "slides" / "images" / "logo.svg", folder / "img" / "logo.svg")
        (folder / "index.md").write_text(WEEK.format(n=n))
    return course


@pytest.mark.slow
def test_decks_in_folders_are_found_and_their_outputs_mirror_the_tree(weeks):
    proc = run_build(weeks, "--html")
    assert proc.returncode == 0, proc.stderr
    for n in (1, 2):
        page = (weeks / "build" / f"week{n}" / "index.html").read_text()
        assert f"week {n}" in page and 'src="img/logo.svg"' in page
        assert (weeks / "build" / f"week{n}" / "img" / "logo.svg").is_file()
        assert (weeks / "_freeze" / "decks" / f"week{n}" / "index.json").is_file()
    published = run_build(weeks, "publish")
    assert published.returncode == 0, published.stderr
    site = weeks / "build" / "site"
    for n in (1, 2):
        for name in ("index.html", "index.pdf", "index-handout.pdf", "index.ipynb", "img/logo.svg"):
            assert (site / f"week{n}" / name).is_file(), name
    index = (site / "index.html").read_text()
    assert 'href="week1/index.html"' in index and 'href="week2/index.pdf"' in index
    assert run_build(weeks, "check").returncode == 0


@pytest.mark.slow
def test_watch_serves_and_rebuilds_decks_in_folders(weeks):
    with Watching(weeks) as watching:
        assert "week 2" in watching.get("week2/index.html")
        assert "week2/index.html" in watching.get("")  # the index lists it
        watching.edit("slides/week2/index.md", "# Week 2", "# Week two")
        assert watching.expect("reload")["decks"] == ["week2/index"]
        assert "Week two" in watching.get("week2/index.html")


def test_two_decks_that_would_write_the_same_files_are_refused(tmp_path):
    from deckrun.core.errors import DeckError
    from deckrun.core.project import Project, check_deck_names

    project = Project(tmp_path)
    one, other = project.slides_dir / "Intro.md", project.slides_dir / "intro.md"
    with pytest.raises(DeckError, match=r"two decks would write the same files \(build/intro.html"):
        check_deck_names(project, [one, other])
    check_deck_names(project, [project.slides_dir / "week1" / "index.md", project.slides_dir / "week2" / "index.md"])


def test_what_is_a_deck(tmp_path):
    from deckrun.core.project import Project

    project = Project(tmp_path)
    for name in ("a.md", "week1/index.md", "partials/footer.md", "week1/partials/x.md", "_drafts/old.md",
                 "week1/_notes.md", ".hidden/y.md", "README.md", "week2/README.md"):
        (project.slides_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (project.slides_dir / name).write_text("# x\n")
    assert [p.relative_to(project.slides_dir).as_posix() for p in project.decks()] == ["a.md", "week1/index.md"]
    assert project.deck_name(project.slides_dir / "week1" / "index.md") == "week1/index"


CONFIGURED = """---
marp: true
theme: lab
---

# Configured

line one
line two
"""


def marp_alone(folder: Path, deck: Path, output: Path) -> subprocess.CompletedProcess:
    """The pinned Marp CLI run in the course's folder, as a lecturer runs it."""
    from deckrun.core.tools import node, node_packages

    cli = node_packages(REPO) / "@marp-team" / "marp-cli" / "marp-cli.js"
    return subprocess.run([str(node()), str(cli), str(deck), "--html", "-o", str(output)], cwd=folder,
                          capture_output=True, text=True, timeout=120)


def slides_of(page: str) -> list[tuple[str, str]]:
    """Each slide's classes and text, as a reader sees them."""
    found = []
    for attributes, body in re.findall(r"<section\b([^>]*)>([\s\S]*?)</section>", page):
        classes = re.search(r'\bclass="([^"]*)"', attributes)
        text = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<style[\s\S]*?</style>", "", body)))
        found.append((classes.group(1) if classes else "", " ".join(text.split())))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("config, text", [
    (".marprc.yml", "themeSet:\n  - ./styles\noptions:\n  markdown:\n    breaks: true\n"),
    ("marp.config.mjs", "export default { themeSet: ['./styles'], options: { markdown: { breaks: true } } }\n"),
])
def test_a_marp_configuration_is_honoured_as_marp_honours_it(course, tmp_path, config, text):
    (course / config).write_text(text)
    (course / "styles").mkdir()
    (course / "styles" / "lab.css").write_text("/* @theme lab */\n@import 'default';\nh1 { color: #b58900; }\n")
    deck = only_deck(course, "configured.md", CONFIGURED)
    proc = run_build(course, "--html")
    assert proc.returncode == 0, proc.stderr
    ours = (course / "build" / "configured.html").read_text()
    assert "line one<br />" in ours and "#b58900" in ours  # the config's markdown option, its theme set
    assert marp_alone(course, deck, tmp_path / "alone.html").returncode == 0
    assert slides_of(ours) == slides_of((tmp_path / "alone.html").read_text())
    doctor = run_build(course, "doctor")
    assert f"Marp configuration: {config}, as Marp CLI reads it" in doctor.stdout


def test_only_image_and_link_targets_are_rewritten():
    from deckrun.format.assets import _replace_outside_code
    from deckrun.source.slides import parse_slides

    markdown = ("# Diagrams\n\n![w:200px](drawio.svg)\n\nWrite `![w:200px](drawio.svg)` for it; drawio.svg is "
                "the file.\n\n<img src=\"drawio.svg\">\n\n```\n![](drawio.svg)\n```\n")
    out = _replace_outside_code(parse_slides(markdown), {"drawio.svg": "_assets/missing-1.svg"})
    assert out.count("_assets/missing-1.svg") == 2  # the Markdown image and the <img>
    assert "`![w:200px](drawio.svg)`" in out and "drawio.svg is the file" in out and "![](drawio.svg)\n```" in out


@pytest.mark.slow
def test_a_missing_image_named_in_code_and_prose_stays_as_written_there(course):
    only_deck(course, "names.md", "# Names\n\n![w:200px](drawio.svg)\n\nUse `![w:200px](drawio.svg)`; "
                                  "drawio.svg is the file.\n")
    proc = run_build(course, "--html")
    assert proc.returncode == 0 and "drawio.svg does not exist: a placeholder is shown" in proc.stderr
    markdown = (course / "build" / "names.md").read_text()
    assert "Use `![w:200px](drawio.svg)`; drawio.svg is the file." in markdown
    assert re.search(r"!\[w:200px\]\(_assets/missing-\w+\.svg\)", markdown)


def load(course: Path, text: str):
    from deckrun.core.project import load_project
    from deckrun.source.deck import load_deck

    path = only_deck(course, "t.md", text)
    return load_deck(path, load_project(course))


def test_template_text_that_is_not_deckruns_stays_as_written(course):
    deck = load(course, "---\nmarp: true\nfooter: \"Slide {{ paginate }}\"\n---\n\n# {{ course.code }}\n\n"
                        "Blade passes {{ $attributes }}, Vue shows {{ message }}.\n\n"
                        "{% set who = 'me' %}By {{ who }}.\n")
    assert "# TST101" in deck.markdown  # deckrun's own
    assert "Blade passes {{ $attributes }}, Vue shows {{ message }}." in deck.markdown
    assert 'footer: "Slide {{ paginate }}"' in deck.markdown and "By me." in deck.markdown


def test_template_code_that_fails_names_the_line_the_text_and_the_fix(course):
    from deckrun.core.errors import DeckError

    with pytest.raises(DeckError) as caught:
        load(course, "# Jinja\n\n{% for item in items %}\n- {{ item }}\n{% endfor %}\n")
    message = str(caught.value)
    assert "slides/t.md:3" in message and "{% for item in items %}" in message
    assert "put it between {% raw %} and {% endraw %}" in message
    with pytest.raises(DeckError, match="'cours' is undefined"):  # a typo of deckrun's own name
        load(course, "# {{ cours.code }}\n")


TALK = """---
marp: true
theme: talk
paginate: true
---

# A talk written for Marp

![bg right:40%](pictures/photo.svg)

Laravel passes {{ $attributes }} to a component.

{% if user %}Shown as written{% endif %}

---

<!-- _class: lead -->

## Code

```python
print("shown, not run")
```
"""


@pytest.mark.slow
def test_import_brings_a_marp_deck_that_builds_to_the_same_slides_as_marp_alone(course, tmp_path):
    talk = tmp_path / "talk"
    (talk / "pictures").mkdir(parents=True)
    (talk / "talk.md").write_text(TALK)
    shutil.copy(REPO / "slides" / "images" / "logo.svg", talk / "pictures" / "photo.svg")
    (talk / "talk.css").write_text("/* @theme talk */\n@import 'gaia';\nsection.lead { background: #223; }\n")
    assert marp_alone(talk, talk / "talk.md", tmp_path / "alone.html").returncode == 0
    done = subprocess.run([sys.executable, str(REPO / "build.py"), "--root", str(course), "import",
                           str(talk / "talk.md"), "--deck", "talks/talk"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (course / "slides" / "talks" / "pictures" / "photo.svg").is_file()
    assert (course / "themes" / "talk.css").is_file()
    proc = run_build(course, "--html", str(course / "slides" / "talks" / "talk.md"))
    assert proc.returncode == 0, proc.stderr
    ours = (course / "build" / "talks" / "talk.html").read_text()
    assert slides_of(ours) == slides_of((tmp_path / "alone.html").read_text())
    assert 'src="pictures/photo.svg"' in ours or "pictures/photo.svg" in ours


@pytest.fixture(scope="module")
def own_kernels(tmp_path_factory) -> dict[str, str]:
    """A second Python environment with a package deckrun's lacks (cowsay), registered as
    the kernel `course-env`, and bash_kernel registered as `bash`: JUPYTER_PATH for them."""
    base = tmp_path_factory.mktemp("kernels")
    uv = Path(sys.executable).with_name("uv")
    subprocess.run([str(uv), "venv", "-q", str(base / "env"), "--python", sys.executable], check=True, timeout=300)
    python = base / "env" / "bin" / "python"
    subprocess.run([str(uv), "pip", "install", "-q", "--python", str(python), "ipykernel", "cowsay", "bash_kernel"],
                   check=True, timeout=600)
    subprocess.run([str(python), "-m", "ipykernel", "install", "--prefix", str(base / "prefix"),
                    "--name", "course-env"], check=True, capture_output=True, timeout=120)
    subprocess.run([str(python), "-m", "bash_kernel.install", "--prefix", str(base / "prefix")], check=True,
                   capture_output=True, timeout=120)
    return {**os.environ, "JUPYTER_PATH": str(base / "prefix" / "share" / "jupyter"), "PYTHON_OF_KERNEL": str(python)}


OWN = """---
marp: true
execute:
  kernel: course-env
---

# The lecturer's environment

```python run
import cowsay, sys
print(cowsay.get_output_string("cow", "moo").splitlines()[1].strip())
print(sys.prefix)
```
"""


@pytest.mark.slow
def test_cells_run_in_the_lecturers_own_kernel(course, own_kernels):
    only_deck(course, "own.md", OWN)
    proc = run_build(course, "--html", env=own_kernels)
    assert proc.returncode == 0, proc.stderr
    built = (course / "build" / "own.md").read_text()
    assert "moo" in built and str(Path(own_kernels["PYTHON_OF_KERNEL"]).parent.parent) in built
    status = run_build(course, "status", env=own_kernels)
    assert "they run in the kernel 'course-env'" in status.stdout and own_kernels["PYTHON_OF_KERNEL"] in status.stdout
    with open(course / "slides" / "own.md", "a") as deck:
        deck.write("\n```python run\nimport pyjokes_not_installed\n```\n")
    failed = run_build(course, "--html", env=own_kernels)
    assert failed.returncode == 1
    python = own_kernels["PYTHON_OF_KERNEL"]
    assert (f"the deck's kernel 'course-env' runs {python}: add the package to that "
            f"environment, e.g. {python} -m pip install pyjokes_not_installed") in failed.stderr


@pytest.mark.slow
def test_a_kernel_of_another_language_runs_its_fences(course, own_kernels):
    only_deck(course, "shell.md", "---\nmarp: true\nexecute:\n  kernel: bash\n---\n\n# Bash\n\n"
                                  "```bash run\nx=41\necho \"from bash\"\n```\n\n```bash run\necho $((x + 1))\n```\n")
    proc = run_build(course, "--html", env=own_kernels)
    assert proc.returncode == 0, proc.stderr
    built = (course / "build" / "shell.md").read_text()
    assert "```bash\nx=41" in built and "from bash" in built and "```output\n42\n```" in built
    with open(course / "slides" / "shell.md", "a") as deck:
        deck.write("\n```python run\nprint(1)\n```\n")
    mixed = run_build(course, "--html", env=own_kernels)
    assert mixed.returncode == 1 and "its fence says `python run`), but the deck's kernel runs bash" in mixed.stderr


OLD_NOTEBOOK = """{
 "metadata": {"name": ""},
 "nbformat": 3, "nbformat_minor": 0,
 "worksheets": [{"metadata": {}, "cells": [
  {"cell_type": "heading", "level": 1, "metadata": {}, "source": ["An old notebook"]},
  {"cell_type": "code", "collapsed": false, "language": "python", "metadata": {}, "outputs": [],
   "input": ["%matplotlib inline\\n", "values = [3, 4]\\n", "!echo from the shell\\n", "print(sum(values))"]}
 ]}]
}"""


@pytest.mark.slow
def test_an_nbformat_3_notebook_imports_and_its_magics_run(course, tmp_path):
    (tmp_path / "old.ipynb").write_text(OLD_NOTEBOOK)
    done = subprocess.run([sys.executable, str(REPO / "build.py"), "--root", str(course), "import",
                           str(tmp_path / "old.ipynb")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    proc = run_build(course, "--html", str(course / "slides" / "old.md"))
    assert proc.returncode == 0, proc.stderr
    assert "from the shell\n7" in (course / "build" / "old.md").read_text()


@pytest.mark.slow
def test_two_processes_installing_the_marp_cli_at_once_offline_fail_once_and_clearly(course, tmp_path):
    copy = tmp_path / "deckrun-copy"  # a deckrun with no node_modules beside it
    shutil.copytree(REPO / "deckrun", copy / "deckrun")
    for name in ("build.py", "package.json", "package-lock.json"):
        shutil.copy(REPO / name, copy / name)
    for name in ("a", "b"):
        (course / "slides" / f"{name}.md").write_text(f"# {name}\n")
    env = {**os.environ, "DECKRUN_CACHE": str(tmp_path / "cache"), "npm_config_registry": "http://127.0.0.1:9",
           "npm_config_cache": str(tmp_path / "npm-cache")}
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "npm_config_proxy"):
        env.pop(name, None)
    builds = [subprocess.Popen([sys.executable, str(copy / "build.py"), "--root", str(course), "--html",
                                str(course / "slides" / f"{name}.md")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env) for name in ("a", "b")]
    said = [build.communicate(timeout=300) for build in builds]
    assert [build.returncode for build in builds] == [1, 1]
    for out, err in said:
        assert "Traceback" not in err and "FileExistsError" not in err, err
        assert "the npm registry (http://127.0.0.1:9) cannot be reached (no proxy is set" in err, err
        assert "ECONNREFUSED" in err
    installs = sum(out.count("installing the pinned Marp CLI") for out, _ in said)
    assert installs == 1  # the one that waited reports the other's failure
    leftovers = [p for p in (tmp_path / "cache" / "deckrun" / "node").iterdir() if p.suffix not in (".lock", ".failed")]
    assert leftovers == []  # nothing half-made
