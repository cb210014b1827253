"""Static facts about the code a process runs: which repository modules it imports and which
environment variables those modules read. Nothing is imported or executed.

The import closure starts at a process's entry module (``python -m <module>``) and follows every
``import``/``from … import`` into the repository's source folders (gen, libs, services/*), including
imports inside functions — a lazy import still runs in production. Imports guarded by
``except ImportError`` are optional and skipped.

The variables of the settings classes (``movierec_core.config.EnvSettings``) are not scanned: the deploy
checks list their ``model_fields`` (tests/deploy/deploy_helpers.py, ``settings_reads``). What is scanned is
the rest: calls to the ``movierec_core.config`` readers (``env_str``, ``env_int``, …) and
``os.environ.get/setdefault/[...]``/``os.getenv`` outside those classes (paths, log level, thread counts,
the shared LLM connection). The variable name must be resolvable statically:

* a string literal;
* a parameter of the enclosing function (``def _optional_timeout(name): env_float(name, …)``): the literal
  arguments of every call to that function in the closure;
* a ``for`` loop variable over a tuple of literals.

Anything else raises :class:`UnresolvedEnvRead`, so a new dynamic read cannot slip past the
manifest checks unnoticed. A read inside a top-level function or class that nothing else in the
closure mentions does not count (``WorkerSettings`` is imported by the gRPC profile process, which
never builds one).
"""

from __future__ import annotations

import ast
import functools
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = (REPO / "gen", REPO / "libs", *sorted((REPO / "services").glob("*")))
ENV_READERS = {"env_str", "env_optional_str", "env_int", "env_float"}
ENVIRON_METHODS = {"get", "setdefault", "pop"}


class UnresolvedEnvRead(Exception):
    """An environment variable is read under a name this scanner cannot work out."""


@dataclass(eq=False)  # identity: modules are parsed once and cached
class Module:
    name: str
    path: Path
    tree: ast.Module
    parents: dict[ast.AST, ast.AST] = field(default_factory=dict)

    @classmethod
    def parse(cls, name: str, path: Path) -> Module:
        tree = ast.parse(path.read_text(), filename=str(path))
        module = cls(name, path, tree)
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                module.parents[child] = node
        return module

    def enclosing(self, node: ast.AST, kinds: tuple[type, ...]) -> ast.AST | None:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, kinds):
                return node
        return None

    def where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(REPO)}:{getattr(node, 'lineno', '?')}"


# ---- modules and imports ----------------------------------------------------------------------

def find_module(name: str) -> Path | None:
    """The file of a first-party module: a ``.py`` file, a package's ``__init__.py``, or the folder of
    a namespace package (generated code has no ``__init__.py``); None for third-party modules."""
    relative = Path(*name.split("."))
    for root in SOURCE_ROOTS:
        for candidate in (root / relative.with_suffix(".py"), root / relative / "__init__.py"):
            if candidate.is_file():
                return candidate
        if (root / relative).is_dir():
            return root / relative
    return None


def _is_optional_import(module: Module, node: ast.AST) -> bool:
    handler_parent = module.enclosing(node, (ast.Try,))
    if handler_parent is None:
        return False
    for handler in handler_parent.handlers:
        names = [handler.type] if not isinstance(handler.type, ast.Tuple) else handler.type.elts
        if any(isinstance(n, ast.Name) and n.id in {"ImportError", "ModuleNotFoundError"} for n in names):
            return True
    return False


def imported_names(module: Module) -> set[str]:
    """Every dotted module name ``module`` may import (``from a.b import c`` yields a.b and a.b.c)."""
    names: set[str] = set()
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.Import | ast.ImportFrom) or _is_optional_import(module, node):
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute_from(module, node)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _absolute_from(module: Module, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module.name if module.path.name == "__init__.py" else module.name.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


@functools.cache
def _parse(name: str, path: Path) -> Module:
    return Module.parse(name, path)


def with_parents(name: str) -> list[str]:
    """``a.b.c`` → [a, a.b, a.b.c]: importing a submodule runs every parent package first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


@dataclass
class Closure:
    """The first-party modules a process loads, and the third-party top-level packages they import."""

    modules: dict[str, Module]
    third_party: set[str]
    identifiers: Counter[str] | None = None


def import_closure(entry: str, first_party_roots: set[str]) -> Closure:
    """Follow imports from module ``entry``; names under ``first_party_roots`` are never third-party
    (one that does not exist, like ``from pkg import function``'s pkg.function, is skipped)."""
    modules: dict[str, Module] = {}
    third_party: set[str] = set()
    seen: set[str] = set()
    pending = with_parents(entry)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        path = find_module(name)
        if path is None:
            top = name.split(".")[0]
            if top not in first_party_roots and top not in sys.stdlib_module_names:
                third_party.add(top)
            continue
        if path.is_dir():  # a namespace package: nothing to run
            continue
        module = _parse(name, path)
        modules[name] = module
        for imported in imported_names(module):
            pending.extend(with_parents(imported))
    return Closure(modules, third_party)


# ---- environment reads ------------------------------------------------------------------------

@dataclass(frozen=True)
class EnvRead:
    name: str
    where: str


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ")


def _name_node(call_or_sub: ast.AST) -> ast.AST | None:
    """The AST node giving the variable name, when ``call_or_sub`` reads the environment."""
    if isinstance(call_or_sub, ast.Subscript) and _is_environ(call_or_sub.value):
        return call_or_sub.slice
    if isinstance(call_or_sub, ast.Compare) and any(_is_environ(c) for c in call_or_sub.comparators):
        return call_or_sub.left
    if not isinstance(call_or_sub, ast.Call) or not call_or_sub.args:
        return None
    func = call_or_sub.func
    if isinstance(func, ast.Name) and func.id in ENV_READERS:
        return call_or_sub.args[0]
    if isinstance(func, ast.Attribute):
        if func.attr in ENVIRON_METHODS and _is_environ(func.value):
            return call_or_sub.args[0]
        if func.attr == "getenv":
            return call_or_sub.args[0]
    return None


def _callable_key(function: ast.FunctionDef, module: Module) -> tuple[str, list[str]]:
    """(name callers use, parameter names in call order) of a function or method."""
    params = [a.arg for a in function.args.posonlyargs + function.args.args]
    owner = module.enclosing(function, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
    if isinstance(owner, ast.ClassDef):
        params = params[1:]  # self / cls
        return f"{owner.name}.{function.name}", params
    return function.name, params


@functools.cache
def _calls(module: Module) -> list[ast.Call]:
    return [node for node in ast.walk(module.tree) if isinstance(node, ast.Call)]


def _literal_args(closure: Closure, key: str, position: int, keyword: str) -> list[str]:
    """String literals passed at ``position`` (or as ``keyword``) in every call of ``key``."""
    owner, _, method = key.rpartition(".")
    values = []
    for module in closure.modules.values():
        for node in _calls(module):
            func = node.func
            matches = (isinstance(func, ast.Name) and not owner and func.id == method) or (
                isinstance(func, ast.Attribute) and func.attr == method and owner
                and isinstance(func.value, ast.Name) and func.value.id == owner)
            if not matches or not _reachable(closure, module, node):
                continue
            arg = node.args[position] if position < len(node.args) else next(
                (k.value for k in node.keywords if k.arg == keyword), None)
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                values.append(arg.value)
    return values


def _parameter_values(closure: Closure, module: Module, node: ast.AST, param: str) -> list[str] | None:
    function = module.enclosing(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    if function is None:
        return None
    key, params = _callable_key(function, module)
    if param not in params:
        return None
    return _literal_args(closure, key, params.index(param), param)


def _loop_values(module: Module, node: ast.AST, variable: str) -> list[str] | None:
    loop = module.enclosing(node, (ast.For,))
    if (loop is not None and isinstance(loop.target, ast.Name) and loop.target.id == variable
            and isinstance(loop.iter, ast.Tuple | ast.List)
            and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in loop.iter.elts)):
        return [e.value for e in loop.iter.elts]
    return None


def _resolve(closure: Closure, module: Module, read: ast.AST, name_node: ast.AST) -> list[str]:
    if isinstance(name_node, ast.Constant) and isinstance(name_node.value, str):
        return [name_node.value]
    if isinstance(name_node, ast.Name):
        values = _loop_values(module, read, name_node.id)
        if values is None:
            values = _parameter_values(closure, module, read, name_node.id)
        if values is not None:
            return values
    raise UnresolvedEnvRead(f"{module.where(read)}: cannot work out which environment variable is read "
                            f"({ast.unparse(name_node)}); use a literal name or extend tests/deploy/codescan.py")


def _top_level_definition(module: Module, node: ast.AST) -> ast.ClassDef | ast.FunctionDef | None:
    top = None
    while node in module.parents:
        node = module.parents[node]
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and module.parents.get(
                node) is module.tree:
            top = node
    return top


def _identifier_counts(closure: Closure) -> Counter[str]:
    """How often each identifier is used (as a name or an attribute) across the closure; cached."""
    if closure.identifiers is None:
        closure.identifiers = Counter(_identifiers(m.tree for m in closure.modules.values()))
    return closure.identifiers


def _identifiers(trees) -> list[str]:
    found = []
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                found.append(node.id)
            elif isinstance(node, ast.Attribute):
                found.append(node.attr)
    return found


@functools.cache
def _identifiers_inside(definition: ast.AST) -> Counter[str]:
    return Counter(_identifiers([definition]))


def _references(closure: Closure, name: str, definition: ast.AST) -> bool:
    """Whether ``name`` is used anywhere in the closure other than inside ``definition`` itself."""
    return _identifier_counts(closure)[name] > _identifiers_inside(definition)[name]


def _reachable(closure: Closure, module: Module, node: ast.AST) -> bool:
    """False for reads inside a top-level function or class that nothing in the closure uses
    (``WorkerSettings`` in the gRPC profile process, ``data_dir()`` where only the offline build calls it).
    Module-level reads always count."""
    top = _top_level_definition(module, node)
    return top is None or _references(closure, top.name, top)


def _inside_reader(module: Module, node: ast.AST) -> bool:
    """Reads inside movierec_core.config's readers are counted where those readers are called (and the
    settings classes' error message only looks up which of a field's names is set)."""
    function = module.enclosing(node, (ast.FunctionDef,))
    return module.name == "movierec_core.config" and function is not None and (
        function.name in ENV_READERS or function.name in {"_raw", "_one_line"})


@functools.cache
def _read_nodes(module: Module) -> list[tuple[ast.AST, ast.AST]]:
    """(read, name node) for every environment read in ``module`` outside the readers themselves."""
    found = []
    for node in ast.walk(module.tree):
        name_node = _name_node(node)
        if name_node is not None and not _inside_reader(module, node):
            found.append((node, name_node))
    return found


def env_reads(closure: Closure) -> dict[str, list[EnvRead]]:
    """Every environment variable the closure's modules read: name → where it is read."""
    reads: dict[str, list[EnvRead]] = {}
    for module in closure.modules.values():
        for node, name_node in _read_nodes(module):
            if not _reachable(closure, module, node):
                continue
            for name in _resolve(closure, module, node, name_node):
                reads.setdefault(name, []).append(EnvRead(name, module.where(node)))
    return reads
