"""The command line: one subcommand per command, each with its own options and help, and
every spelling the README shows."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from deckrun.cli import COMMANDS, main, parser, with_command

REPO = Path(__file__).resolve().parent.parent


def parse(*argv: str):
    return parser().parse_args(with_command(list(argv)))


@pytest.mark.parametrize("argv, command, values", [
    ((), "build", {"targets": []}),
    (("slides/a.md", "--pdf", "--strict"), "build", {"targets": ["slides/a.md"], "pdf": True, "strict": True}),
    (("--jobs", "2", "--refresh"), "build", {"jobs": 2, "refresh": ["all"]}),
    (("--refresh", "a.md", "--refresh", "snippets/x.py#y"), "build", {"refresh": ["a.md", "snippets/x.py#y"]}),
    (("--frozen", "--refresh-assets", "--pptx"), "build", {"frozen": True, "refresh_assets": True, "pptx": True}),
    (("publish", "--zip", "--handout", "4", "--paper", "a4"), "publish", {"zip": True, "handout": 4, "paper": "a4"}),
    (("check", "--strict"), "check", {"strict": True}),
    (("watch", "--port", "0", "--open", "--pdf"), "watch", {"port": 0, "open": True, "pdf": True}),
    (("serve",), "watch", {"port": 8000}),
    (("goto", "slides/a.md:12"), "goto", {"where": "slides/a.md:12"}),
    (("present", "--safe", "--port", "9000"), "present", {"safe": True, "port": 9000}),
    (("status", "a.md"), "status", {"targets": ["a.md"]}),
    (("prune",), "prune", {}),
    (("clean", "--cache"), "clean", {"cache": True}),
    (("new", "ict101", "--code", "ICT101", "--name", "AI skills", "--lecturer", "Sam Lee", "--lang", "en-AU"), "new",
     {"folder": "ict101", "code": "ICT101", "lecturer": "Sam Lee", "lang": "en-AU"}),
    (("doctor",), "doctor", {}),
    (("import", "labs/week3.ipynb", "--deck", "week3", "--snippets"), "import",
     {"deck": "week3", "snippets": True}),
    (("--root", "course", "status"), "status", {"root": Path("course")}),
    (("status", "--root", "course"), "status", {"root": Path("course")}),
    (("--root=course", "--html"), "build", {"root": Path("course"), "html": True}),
])
def test_every_spelling_the_readme_shows_reaches_its_command(argv, command, values):
    args = parse(*argv)
    assert args.command == command
    for name, value in values.items():
        assert getattr(args, name) == value, name


def test_the_readme_names_only_commands_that_exist():
    text = (REPO / "README.md").read_text()
    block = text.split("## Command line", 1)[1].split("```", 2)[1]
    said = set(re.findall(r"^(?:python build\.py|deckrun) ([a-z]+)\b", block, re.M))
    known = {name for command in COMMANDS for name in (command.name, *command.aliases)}
    assert said and said <= known, said - known


@pytest.mark.parametrize("command, own, others", [
    ("check", "--strict", ("--port", "--zip", "--html", "--cache")),
    ("publish", "--handout", ("--port", "--safe", "--cache")),
    ("watch", "--port", ("--zip", "--handout", "--safe")),
    ("present", "--safe", ("--zip", "--cache")),
    ("clean", "--cache", ("--port", "--refresh", "--pdf")),
    ("goto", "FILE:LINE", ("--port", "--refresh")),
])
def test_a_commands_help_shows_its_own_options_only(capsys, command, own, others):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert own in shown and "--root" in shown
    assert not [option for option in others if option in shown]


def test_the_main_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out
    assert all(command.name in shown for command in COMMANDS)
    assert "--handout" not in shown


def test_an_option_another_command_takes_is_refused_with_this_commands_usage(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["check", "--zip"])
    assert exited.value.code == 2
    said = capsys.readouterr().err
    assert "deckrun check: error: unrecognized arguments: --zip" in said and "[--strict]" in said
