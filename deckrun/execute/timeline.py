"""A kernel's state place by place: what each cell of a deck left, so that a cell can run
again (unchanged, or edited) in the state the cells before it left, and in nothing the
cells after it did, as a notebook run from the top would have it.

Place p is the state before cell p (after cells 0..p-1). Each cell's last run is
recorded: its code, the version of each name it read, the names it changed. A version
of a name is the value it got at a place, named by that place and the run that made it;
a warm kernel keeps every version's value (state.py, in the kernel), so going back to a
place costs putting values back, not running cells again.

A run is *valid* while its code is the cell's code and every name it read still has the
version it read. An edit (a live run of other code) makes the runs after it that read
what it changed invalid, and so on down the deck; they run again, as replays, when a
cell that needs what they made is run. A version whose value the kernel does not hold
(a cell changed it in place and it could not be copied first) is made again the same way.

Where the kernel does not keep versions (a one-off build: a fresh kernel, cells run in
deck order) the same records plan which cells must run for the state the stale ones need.
Names are known by reading the code (analysis.py) and, in a warm kernel, by watching
what each run really bound and changed.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ..source.analysis import backward_slice, code_facts

Version = tuple[int, int]  # (place, serial of the run that made it); (0, 0): as the kernel started
START: Version = (0, 0)


@dataclass(frozen=True)
class Run:
    """What a cell's last run was."""
    code: str
    serial: int
    inputs: dict[str, Version | None]  # the names it read, and their versions then
    produced: frozenset[str]           # names it bound, deleted or changed in place
    mutated: frozenset[str] = frozenset()  # those it was seen to change in place (copied first next time)


@dataclass(frozen=True)
class Step:
    """What the kernel must do to run a cell at its place: put back (name -> the place of
    its version) or take away names, forget versions no longer needed; then, around the
    cell, note the names it reads (`reads`: name -> the place of the version it holds) and
    copy those it may change in place first (`protect`)."""
    index: int
    code: str
    assign: dict[str, int]
    remove: tuple[str, ...]
    forget: tuple[tuple[str, int], ...]
    reads: dict[str, int]
    protect: tuple[str, ...]
    inputs: dict[str, Version | None]


@dataclass
class Timeline:
    """The deck's cells (their code as the kernel should run them now) and what the
    kernel's last run of each left. `keeping`: the kernel keeps every version (a warm
    kernel), else it only moves forward (a one-off build)."""
    codes: list[str]
    keeping: bool = True
    runs: dict[int, Run] = field(default_factory=dict)
    initial: frozenset[str] = frozenset()   # names the kernel had before any cell
    lost: set[tuple[str, int]] = field(default_factory=set)  # versions whose value the kernel no longer holds
    holding: dict[str, int] = field(default_factory=dict)    # name -> the place of the version it holds now
    _forget: list[tuple[str, int]] = field(default_factory=list)
    _serials: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- the deck's code

    def update(self, codes: list[str]) -> None:
        """The deck as it is now. An edit in place keeps the records (what it invalidates
        shows in `valid`); cells added or removed drop the records from the first change on."""
        if len(codes) != len(self.codes):
            first = next((i for i, (a, b) in enumerate(zip(codes, self.codes)) if a != b),
                         min(len(codes), len(self.codes)))
            for index in [i for i in self.runs if i >= first]:
                self._drop(index)
        self.codes = list(codes)

    def set_code(self, index: int, code: str) -> None:
        """A cell's code from now on (a live edit, or the built code back)."""
        self.codes[index] = code

    def forget_kernel(self) -> None:
        """The kernel started afresh: it holds nothing."""
        self.runs.clear()
        self.lost.clear()
        self.holding.clear()
        self._forget.clear()
        self.initial = frozenset()

    # -- what holds

    def valid(self) -> list[bool]:
        """Per cell: does its last run still stand (its code, and the versions it read)?"""
        valid: list[bool] = []
        current, unknown = self._start()
        for index, code in enumerate(self.codes):
            run = self.runs.get(index)
            ok = run is not None and run.code == code and all(
                current.get(name, None if unknown else START) == version for name, version in run.inputs.items())
            valid.append(ok)
            current, unknown = self._advance(current, unknown, index, ok)
        return valid

    def versions_at(self, place: int, valid: list[bool]) -> tuple[dict[str, Version | None], bool]:
        """Each name's version at `place` (None: a stale cell before it may have changed
        it), and whether every name not listed is unknown (an unreadable stale cell)."""
        current, unknown = self._start()
        for index in range(place):
            current, unknown = self._advance(current, unknown, index, valid[index])
        return current, unknown

    def _start(self) -> tuple[dict[str, Version | None], bool]:
        return {name: START for name in self.initial}, False

    def _advance(self, current: dict[str, Version | None], unknown: bool, index: int,
                 valid: bool) -> tuple[dict[str, Version | None], bool]:
        """The versions after cell `index`: what its standing run made, or unknown for
        what a cell whose run does not stand may change."""
        run = self.runs.get(index)
        if valid and run is not None:
            current.update({name: (index + 1, run.serial) for name in run.produced})
            return current, unknown
        changes = self._may_change(index)
        if changes is None:
            return {}, True
        current.update({name: None for name in changes})  # (a None version matches no run's)
        return current, unknown

    def _may_change(self, index: int) -> frozenset[str] | None:
        """What a cell whose run does not stand may change: what its last run changed,
        and what its code binds or touches (None: anything, its code cannot be read)."""
        facts = code_facts(self.codes[index])
        if not facts.understood:
            return None
        run = self.runs.get(index)
        return facts.binds | facts.mentions | (run.produced if run else frozenset())

    def _produces(self, index: int, valid: bool) -> frozenset[str] | None:
        run = self.runs.get(index)
        if valid and run is not None:
            return run.produced
        return self._may_change(index)

    # -- planning

    def reads(self, code: str, place: int) -> frozenset[str] | None:
        """The names code run at `place` reads (None: any), with the global names read
        by the functions it calls that earlier cells defined."""
        facts = code_facts(code)
        if not facts.understood:
            return None
        names, pending = set(facts.reads), list(facts.reads)
        defined = self._functions(place)
        while pending:
            for free in defined.get(pending.pop(), ()):
                if free not in names:
                    names.add(free)
                    pending.append(free)
        return frozenset(names)

    def _functions(self, place: int) -> dict[str, frozenset[str]]:
        """The functions (and classes) cells before `place` define: their free names."""
        found: dict[str, frozenset[str]] = {}
        for index in range(place):
            found.update(code_facts(self.codes[index]).functions)
        return found

    def plan(self, targets: list[int]) -> list[int]:
        """The cells to run, in deck order, so that each target runs in the state its place
        needs: the targets, and the cells before them that make what they read where the
        kernel does not hold it (the cell's run does not stand, or the kernel lost its
        version). A warm kernel asks again after each replay (`next_replay`); a one-off
        build runs the list as it is."""
        valid = self.valid()

        def holds(index: int, names: frozenset[str]) -> bool:
            return valid[index] and not any((name, index + 1) in self.lost for name in names)

        return backward_slice(targets, lambda index: self.reads(self.codes[index], index),
                              lambda index: self._produces(index, valid[index]), holds, frozenset(self._known()))

    def next_replay(self, target: int) -> int | None:
        """The first cell a warm kernel must run again before `target`, if any."""
        needed = [index for index in self.plan([target]) if index != target]
        return needed[0] if needed else None

    def _known(self) -> set[str]:
        names = set(self.initial)
        for index, code in enumerate(self.codes):
            facts = code_facts(code)
            names |= facts.binds | facts.mentions
            run = self.runs.get(index)
            if run is not None:
                names |= run.produced
        return names

    # -- a run

    def step(self, index: int, code: str | None = None, learned: frozenset[str] = frozenset()) -> Step:
        """What the kernel does around running cell `index` (with `code`, else the cell's
        own): the values of its place put back, its reads noted. Call `record` after."""
        if index >= len(self.codes):  # (a place the deck was not told of: this code is the cell there)
            self.codes.extend([""] * (index + 1 - len(self.codes)))
            self.codes[index] = code or ""
        code = self.codes[index] if code is None else code
        valid = self.valid()
        versions, unknown = self.versions_at(index, valid)
        assign: dict[str, int] = {}
        remove: list[str] = []
        if self.keeping:
            for name in sorted(self._known() | set(self.holding)):
                version = versions.get(name, None if unknown else START)
                usable = version is not None and (name, version[0]) not in self.lost and (
                    version != START or name in self.initial)
                if usable:
                    assert version is not None
                    if self.holding.get(name) != version[0]:
                        assign[name] = version[0]
                elif name in self.holding:
                    remove.append(name)
        reads = self.reads(code, index)
        names = self._known() if reads is None else reads
        run = self.runs.get(index)
        protect = code_facts(code).mutates | (run.mutated if run else frozenset()) | learned
        inputs = {name: versions.get(name, None if unknown else START) for name in sorted(names)}
        holding = {**self.holding, **assign}
        for name in remove:
            holding.pop(name, None)
        forget, self._forget = tuple(self._forget), []
        return Step(index, code, assign, tuple(remove), forget,
                    {name: holding[name] for name in sorted(names) if name in holding},
                    tuple(sorted(protect & names)), inputs)

    def moved(self, step: Step) -> None:
        """The kernel put back and took away what `step` said (before running its cell)."""
        self.holding.update(step.assign)
        for name in step.remove:
            self.holding.pop(name, None)

    def record(self, step: Step, produced: frozenset[str], mutated: frozenset[str] = frozenset(),
               lost: frozenset[tuple[str, int]] = frozenset(), absent: frozenset[str] = frozenset()) -> None:
        """Cell `step.index` ran `step.code`: what it changed (`absent`: of those, the
        names it deleted), what it changed in place, and the versions whose values the
        kernel could not keep. A rerun of the same code on the same versions keeps its
        serial: what it made stands for the runs that read it."""
        index = step.index
        before = self.runs.get(index)
        same = before is not None and before.code == step.code and before.inputs == step.inputs
        serial = before.serial if same and before is not None else next(self._serials)
        if before is not None:
            self._forget.extend((name, index + 1) for name in before.produced - produced)
        self.runs[index] = Run(step.code, serial, step.inputs, produced, mutated)
        self.lost -= {(name, index + 1) for name in produced}
        self.lost |= lost
        for name in produced - absent:
            self.holding[name] = index + 1
        for name in absent:
            self.holding.pop(name, None)

    def start(self, names: frozenset[str]) -> None:
        """The names the kernel had before any cell ran (kept at place 0)."""
        self.initial = names
        self.holding.update({name: 0 for name in names})

    def _drop(self, index: int) -> None:
        run = self.runs.pop(index, None)
        if run is not None:
            self._forget.extend((name, index + 1) for name in run.produced)
