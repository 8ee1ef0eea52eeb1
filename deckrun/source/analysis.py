"""What a cell's code imports, binds and mentions, read statically (nothing is run).

Used by the cache: imports give the packages whose versions go into a cell's key, and
the names tell which earlier cells must be replayed to rebuild the state a re-run needs
(in a fresh kernel, or in a warm one that ran other code since).
"""
from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass
from functools import cached_property, lru_cache

_BUILTINS = frozenset(dir(builtins)) | {"display", "get_ipython"}


@dataclass(frozen=True)
class CodeFacts:
    code: str

    @cached_property
    def tree(self) -> ast.Module | None:
        try:
            return ast.parse(self.code)
        except SyntaxError:  # IPython magics (%pip, !ls): nothing can be known statically
            return None

    @property
    def understood(self) -> bool:
        return self.tree is not None

    @cached_property
    def imports(self) -> frozenset[str]:
        """Top-level module names imported anywhere in the code (`import a.b` -> a)."""
        names: set[str] = set()
        for node in ast.walk(self.tree) if self.tree else ():
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        return frozenset(names)

    @cached_property
    def _reader(self) -> "_Reader":
        reader = _Reader()
        for statement in self.tree.body if self.tree else ():
            reader.visit(statement)
        return reader

    @property
    def binds(self) -> frozenset[str]:
        """Names the cell (re)binds in the notebook's namespace."""
        return frozenset(self._reader.bound)

    @property
    def needs(self) -> frozenset[str]:
        """Names the cell reads before (or without) binding them itself."""
        reader = self._reader
        return frozenset((reader.needs | (reader.deferred - reader.bound)) - _BUILTINS)

    @cached_property
    def mentions(self) -> frozenset[str]:
        """Every global-looking name the code touches: read, written, called, mutated."""
        names: set[str] = set()
        for node in ast.walk(self.tree) if self.tree else ():
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
        return frozenset(names - _BUILTINS)

    @cached_property
    def mutates(self) -> frozenset[str]:
        """Names whose value the code changes in place, as far as can be seen: it sets an
        attribute or item of them or calls an in-place method (`items.append(x)`,
        `model.train()`, torch's `x.add_(1)`). Reads and other calls (`model(x)`,
        `fit(model)`) are taken not to change them: a guess, but deck code is mostly that."""
        names = set()
        for node in ast.walk(self.tree) if self.tree else ():
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
                    node.func.attr in _IN_PLACE or node.func.attr.endswith("_") and not node.func.attr.startswith("_")):
                names.add(_base_name(node.func.value))
            elif isinstance(node, (ast.Attribute, ast.Subscript)) and not isinstance(node.ctx, ast.Load):
                names.add(_base_name(node))
        return frozenset(names - _BUILTINS - {""})

    @property
    def changes(self) -> frozenset[str]:
        """Names the code leaves with another value: those it binds or mutates."""
        return self.binds | self.mutates


_IN_PLACE = frozenset({"append", "extend", "insert", "pop", "popitem", "remove", "clear", "update",
                       "setdefault", "sort", "reverse", "add", "discard", "fit", "partial_fit", "train",
                       "eval", "to", "cuda", "cpu", "half", "float", "load_state_dict", "zero_grad", "step",
                       "resize_token_embeddings", "add_tokens", "add_special_tokens", "seed", "shuffle"})


def _base_name(node: ast.AST) -> str:
    """The name an expression starts from (`model.config.x` -> model), if it is one."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


class _Reader(ast.NodeVisitor):
    """Walks top-level code in execution order, noting names read before they are bound.
    Nested scopes (functions, classes, comprehensions) read their free names later, when
    called: those are `deferred` and count unless the cell binds them itself."""

    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.needs: set[str] = set()
        self.deferred: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            if node.id not in self.bound:
                self.needs.add(node.id)
        else:
            self.bound.add(node.id)

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, _SCOPES):
            self.deferred |= _free_names(node)
            if hasattr(node, "name"):
                self.bound.add(node.name)
            return
        super().generic_visit(node)

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        self.bound.update((a.asname or a.name).split(".")[0] for a in node.names)

    visit_ImportFrom = visit_Import

    def _value_first(self, value: ast.AST | None, *targets: ast.AST) -> None:
        if value is not None:
            self.visit(value)
        for target in targets:
            self.visit(target)

    def visit_Assign(self, node: ast.Assign) -> None:
        self._value_first(node.value, *node.targets)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._value_first(node.value, node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._value_first(node.value, node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name) and node.target.id not in self.bound:
            self.needs.add(node.target.id)  # x += 1 reads x first
        self._value_first(node.value, node.target)

    def visit_For(self, node: ast.For) -> None:
        self._value_first(node.iter, node.target)
        for statement in node.body + node.orelse:
            self.visit(statement)


def _free_names(scope: ast.AST) -> set[str]:
    """Names a nested scope reads but does not bind (Python: assigned anywhere = local)."""
    loads, local = set(), set()
    for node in ast.walk(scope):
        if isinstance(node, ast.Name):
            (loads if isinstance(node.ctx, ast.Load) else local).add(node.id)
        elif isinstance(node, ast.arg):
            local.add(node.arg)
    return loads - local


def replay_set(facts: list[CodeFacts], stale: list[int], held: frozenset[int] = frozenset(),
               dirty: frozenset[str] | None = None) -> list[int]:
    """Cells that are not stale but must run again (outputs discarded) so that the stale
    cells find the state they need.

    For each name a stale cell needs: the last earlier cell that binds it, and every
    cell after that one which mentions it (it may have changed it, e.g. trained a model);
    then the same for those cells, recursively. A cell that cannot be parsed (magics)
    makes every cell before it needed.

    With a warm kernel that ran the `held` cells as they are now (`dirty`: the names the
    code it ran since, at the stale cells' places, may have changed), a name that is not
    dirty is there already if its binder is held, and a held cell changing no dirty name
    need not run again.
    """
    satisfied = frozenset() if dirty is None else frozenset(
        i for i in held if facts[i].understood and not facts[i].changes & dirty)
    running = set(stale)
    needed: set[int] = set()
    pending: list[tuple[str, int]] = []

    def need(index: int) -> None:
        if not facts[index].understood:
            needed.update(j for j in range(index) if j not in running and j not in satisfied)
        else:
            pending.extend((name, index) for name in _needs(facts, index))

    for index in stale:
        need(index)
    while pending:
        name, before = pending.pop()
        binder = next((j for j in range(before - 1, -1, -1)
                       if name in facts[j].binds or not facts[j].understood), None)
        if binder is None or (dirty is not None and name not in dirty and binder in held):
            continue
        for j in range(binder, before):
            if j in needed or j in running or j in satisfied or not (j == binder or name in facts[j].mentions):
                continue
            needed.add(j)
            need(j)
    return sorted(needed)


def warm_replays(facts: list[CodeFacts], stale: list[int], held: set[int], ran_since: list[str],
                 restored: frozenset[str] = frozenset()) -> list[int]:
    """The cells a warm kernel must replay for `stale` to run. It need not replay one it
    ran as it is now (`held`), unless the code it ran since at the stale cells' places
    (`ran_since`) may have changed a name that cell changes: the kernel's value is then a
    later one (say, a later slide's `model`), unless that value was put back (`restored`).
    A cell that runs again changes its names again, so the held cells after it that change
    them run again too (until nothing more changes)."""
    since = [code_facts(code) for code in ran_since]
    if not all(f.understood for f in since):
        return replay_set(facts, stale)
    dirty = frozenset().union(*(f.changes for f in since)) - restored
    while True:
        rerun = replay_set(facts, stale, frozenset(held), dirty)
        rebound = dirty.union(*(facts[i].changes for i in rerun))
        if rebound == dirty:
            return rerun
        dirty = rebound


def run_order(facts: list[CodeFacts], stale: list[int], replay: list[int]) -> list[int]:
    """The order to run the stale and replayed cells in: the first stale cell as early as
    it can be (after only the replays it needs), so that a preview can show it while the
    rest run. Replays it does not need wait until after it, unless one of them may change
    a name that a cell it now comes after uses, or the other way round: then the deck's
    order."""
    everything = sorted(set(stale) | set(replay))
    first = min(stale)
    early = set(replay_set(facts, [first])) & set(replay) | {first}
    deferred = [i for i in everything if i < first and i not in early]

    def conflict(late: CodeFacts, moved_ahead: CodeFacts) -> bool:
        return bool(late.changes & moved_ahead.mentions or late.mentions & moved_ahead.changes)

    if not all(facts[i].understood for i in early | set(deferred)) or any(
            conflict(facts[d], facts[e]) for d in deferred for e in early if e > d):
        return everything
    return sorted(early) + [i for i in everything if i not in early]


def _needs(facts: list[CodeFacts], index: int) -> frozenset[str]:
    return facts[index].needs


@lru_cache(maxsize=4096)
def code_facts(code: str) -> CodeFacts:
    """The facts of a piece of code, worked out once (the same cells are looked at by
    every build, and snippet cells by every deck that shows them)."""
    return CodeFacts(code)
