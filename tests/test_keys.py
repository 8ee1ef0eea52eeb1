"""Cache keys and the lock file, without running anything: what a key is made of, the
probe that asks a kernel for its packages, the versions the lock gives this machine."""
from __future__ import annotations

from pathlib import Path

from deckrun.core.errors import Location
from deckrun.execute.environment import PROBE_SOURCE, environment, local_probe, locked_versions
from deckrun.execute.keys import CellKey, cell_sources, deck_keys, stale_reason
from deckrun.source.cells import Cell, CellOptions


def make_cell(code: str, **options) -> Cell:
    where = Location(Path("slides/x.md"), 1)
    return Cell(code, CellOptions(**options), where, where)


def keys(cells: list[Cell], root: Path, probe=local_probe) -> list[CellKey]:
    sources = cell_sources(cells, root, [root], {})
    return deck_keys(sources, environment(probe, set().union(*(s.modules for s in sources))))


def test_a_package_version_change_changes_the_keys_of_the_cells_that_use_it(tmp_path):
    cells = [make_cell("import json"), make_cell("import numpy\nvalue = numpy.ones(2)"), make_cell("x = 1"),
             make_cell("print(value)")]
    before = keys(cells, tmp_path)
    assert "numpy" in before[1].packages and before[0].packages == before[2].packages == {}

    def other_numpy(modules):  # another kernel: the same but for NumPy's version
        answer = local_probe(modules)
        return {**answer, "modules": {**answer["modules"], "numpy": {"numpy": "0.0-test"}}}

    after = keys(cells, tmp_path, other_numpy)
    # The numpy cell and the one that prints its value, no other.
    assert [a.key != b.key for a, b in zip(after, before)] == [False, True, False, True]
    assert [k.loose for k in after] == [k.loose for k in before]
    numpy = before[1].packages["numpy"]
    assert stale_reason(after[1], before[1]) == f"package version changed: numpy {numpy} -> 0.0-test"


def test_the_kernels_python_is_in_the_key(tmp_path):
    cells = [make_cell("x = 1")]
    here = keys(cells, tmp_path)[0]
    elsewhere = keys(cells, tmp_path, lambda modules: {**local_probe(modules), "python": "3.99.0"})[0]
    assert here.key != elsewhere.key and here.loose == elsewhere.loose
    assert stale_reason(elsewhere, here) == f"Python version changed: {here.python} -> 3.99.0"


def test_the_probe_a_remote_kernel_runs_is_the_local_one(tmp_path):
    namespace: dict = {}
    exec(PROBE_SOURCE, namespace)  # as a kernel without deckrun would
    modules = ["numpy", "yaml", "json", "no_such_module"]
    assert namespace["describe_environment"](modules) == local_probe(modules)


def test_transformers_brings_torch_into_the_key(tmp_path):
    key = keys([make_cell("from transformers import pipeline")], tmp_path)[0]
    assert {"transformers", "torch"} <= set(key.packages)


def test_display_options_do_not_change_the_key(tmp_path):
    plain, shown = (keys([cell], tmp_path)[0] for cell in
                    (make_cell("x = 1"), make_cell("x = 1", echo=False, output="right", max_lines=3, freeze=True)))
    figure = keys([make_cell("x = 1", format="svg")], tmp_path)[0]
    assert plain.key == shown.key != figure.key


def test_local_modules_are_inputs(tmp_path):
    (tmp_path / "helpers.py").write_text("import numpy\nVALUE = 1\n")
    key = keys([make_cell("import helpers")], tmp_path)[0]
    assert list(key.inputs) == ["helpers.py"] and "numpy" in key.packages
    (tmp_path / "helpers.py").write_text("import numpy\nVALUE = 2\n")
    changed = keys([make_cell("import helpers")], tmp_path)[0]
    assert stale_reason(changed, key) == "input changed: helpers.py"
    assert changed.loose != key.loose


def test_the_lock_gives_this_machine_its_versions(tmp_path):
    (tmp_path / "requirements.lock").write_text(
        "# a comment\nnumpy==2.4.6 \\\n    --hash=sha256:ab \\\n    --hash=sha256:cd\n    # via pandas\n"
        "torch==2.13.0+cpu ; platform_machine == 'x86_64' and sys_platform == 'linux' \\\n    --hash=sha256:ef\n"
        "torch==2.13.0 ; platform_machine != 'x86_64' or sys_platform != 'linux' \\\n    --hash=sha256:01\n"
        "Jinja2==3.1.6 ; sys_platform == 'nowhere'\n")
    found = locked_versions(tmp_path)
    assert found["numpy"] == "2.4.6" and "jinja2" not in found
    assert found["torch"] in ("2.13.0+cpu", "2.13.0")
    assert locked_versions(tmp_path / "nothing") == {}
