"""What a cell's code imports, binds and mentions, read statically (nothing is run).

Used by the cache: imports give the packages whose versions go into a cell's key, and
the names tell which earlier cells must be replayed to rebuild the state a re-run needs.
"""
from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass
from functools import cached_property

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


def replay_set(facts: list[CodeFacts], stale: list[int]) -> list[int]:
    """Cells that are not stale but must run again (outputs discarded) so that the stale
    cells find the state they need.

    For each name a stale cell needs: the last earlier cell that binds it, and every
    cell after that one which mentions it (it may have changed it, e.g. trained a model);
    then the same for those cells, recursively. A cell that cannot be parsed (magics)
    makes every cell before it needed.
    """
    running = set(stale)
    needed: set[int] = set()
    pending: list[tuple[str, int]] = []

    def need(index: int) -> None:
        if not facts[index].understood:
            needed.update(j for j in range(index) if j not in running)
        else:
            pending.extend((name, index) for name in _needs(facts, index))

    for index in stale:
        need(index)
    while pending:
        name, before = pending.pop()
        binder = next((j for j in range(before - 1, -1, -1)
                       if name in facts[j].binds or not facts[j].understood), None)
        if binder is None:
            continue
        for j in range(binder, before):
            if j in needed or j in running or not (j == binder or name in facts[j].mentions):
                continue
            needed.add(j)
            need(j)
    return sorted(needed)


def _needs(facts: list[CodeFacts], index: int) -> frozenset[str]:
    return facts[index].needs
