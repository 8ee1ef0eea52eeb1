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
from typing import Callable

_BUILTINS = frozenset(dir(builtins)) | {"display", "get_ipython"}


@dataclass(frozen=True)
class CodeFacts:
    code: str

    @cached_property
    def tree(self) -> ast.Module | None:
        try:
            return ast.parse(self.code)
        except SyntaxError:
            return _ipython_tree(self.code)

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
            if isinstance(node, ast.Call) and node.args and _called(node.func) in _CHANGES_ARGUMENT:
                names.add(_base_name(node.args[0]))  # random.shuffle(pairs), heapq.heappush(queue, x)
            elif isinstance(node, (ast.Attribute, ast.Subscript)) and not isinstance(node.ctx, ast.Load):
                names.add(_base_name(node))
            elif isinstance(node, ast.AugAssign):  # items += [x] extends the list itself
                names.add(_base_name(node.target))
        return frozenset(names - _BUILTINS - {""})

    @property
    def reads(self) -> frozenset[str]:
        """Names whose value the code uses from before it: read, or changed in place."""
        return self.needs | self.mutates

    @cached_property
    def functions(self) -> dict[str, frozenset[str]]:
        """The functions and classes the code defines (or binds to a lambda), with the
        global names they read when called."""
        found: dict[str, frozenset[str]] = {}
        for node in self.tree.body if self.tree else ():
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found[node.name] = frozenset(_free_names(node) - _BUILTINS)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = frozenset(_free_names(node.value) - _BUILTINS)
        return found

    @property
    def changes(self) -> frozenset[str]:
        """Names the code leaves with another value: those it binds or mutates."""
        return self.binds | self.mutates


# Functions that change their first argument in place.
_CHANGES_ARGUMENT = frozenset({"shuffle", "heappush", "heappop", "heapify", "heapreplace", "heappushpop",
                               "insort", "insort_left", "insort_right", "setattr", "delattr", "copyto"})


def _called(func: ast.AST) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


# Magics that run no Python code of the cell's (a shell command, a setting, help).
_PLAIN_MAGICS = frozenset({"matplotlib", "pip", "conda", "mamba", "uv", "load_ext", "config", "env", "set_env",
                           "who", "whos", "who_ls", "pwd", "ls", "history", "precision", "pprint", "xmode",
                           "lsmagic", "magic", "pdoc", "pinfo", "pinfo2", "psource", "pdef", "writefile",
                           "sx", "system", "bash", "sh", "html", "HTML", "markdown", "latex", "svg",
                           "javascript", "js"})


def _ipython_tree(code: str) -> ast.Module | None:
    """IPython's syntax (%magics, !shell) read as the Python IPython runs for it; None if
    it cannot be read, or if a magic runs code that no analysis sees (%time x = 1,
    %run, %reset). (IPython is imported only for such code.)"""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        tree = ast.parse(TransformerManager().transform_cell(code))
    except Exception:  # noqa: BLE001 (no IPython, or code no one can read)
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called(node.func) in ("run_line_magic", "run_cell_magic") and not (
                node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in _PLAIN_MAGICS):
            return None
    return tree


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
    loads: set[str] = set()
    local: set[str] = set()
    for node in ast.walk(scope):
        if isinstance(node, ast.Name):
            (loads if isinstance(node.ctx, ast.Load) else local).add(node.id)
        elif isinstance(node, ast.arg):
            local.add(node.arg)
    return loads - local


def replay_set(facts: list[CodeFacts], stale: list[int]) -> list[int]:
    """Cells that are not stale but must run again (outputs discarded) so that the stale
    cells find the state they need, in a kernel that holds nothing: for each name a stale
    cell needs, the last earlier cell that binds it, and every cell after that one which
    mentions it (it may have changed it, e.g. trained a model); then the same for those
    cells, recursively. A cell that cannot be read makes every cell before it needed."""
    known = frozenset().union(*(f.binds | f.mentions for f in facts))

    def reads(index: int) -> frozenset[str] | None:
        return facts[index].needs if facts[index].understood else None

    def touches(index: int) -> frozenset[str] | None:
        return facts[index].binds | facts[index].mentions if facts[index].understood else None

    return [i for i in backward_slice(stale, reads, touches, lambda index, names: False, known) if i not in stale]


def backward_slice(targets: list[int], reads: Callable[[int], frozenset[str] | None],
                   changes: Callable[[int], frozenset[str] | None], holds: Callable[[int, frozenset[str]], bool],
                   known: frozenset[str]) -> list[int]:
    """The cells to run, in order, for the targets to run in the state they need: walking
    back from the last target, each name still needed is made by the last cell before
    that may change it (`changes`; None: anything); that cell must run too, reading what
    it reads (`reads`; None: anything), unless the kernel `holds` what it made of those
    names. A target makes what it changes for the targets after it."""
    need: set[str] = set()
    chosen = set(targets)
    for index in range(max(targets, default=-1), -1, -1):
        changed = changes(index)
        changed = known if changed is None else changed
        read = reads(index)
        read = known if read is None else read
        if index in chosen:
            need = (need - changed) | read
            continue
        hit = frozenset(need & changed)
        if not hit or holds(index, hit):
            need -= hit
            continue
        chosen.add(index)
        need = (need - (hit - read)) | read
    return sorted(chosen)


@lru_cache(maxsize=4096)
def code_facts(code: str) -> CodeFacts:
    """The facts of a piece of code, worked out once (the same cells are looked at by
    every build, and snippet cells by every deck that shows them)."""
    return CodeFacts(code)
