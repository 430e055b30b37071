"""The package's layers, enforced by reading the source (an AST scan of core/ and dashboard/).

Layers, lowest first; each may import only those below it, and ``errors.py`` is a leaf::

    errors  <  engine  <  data  <  studies | labels  <  cli

``studies`` and ``labels`` are siblings: neither imports the other. ``core/__init__.py`` is the
public façade and may import any layer. ``dashboard/`` may import only ``labelwise``'s public
names and ``labelwise.dashboard``. Nothing in core/ imports Streamlit, and the engine does no
storage I/O (no sqlite3, pyarrow or pandas readers/writers; DataFrames for score tables are fine).

Every import counts, at module level or inside a function: a lazy import is still an arrow.
The scan also reports import cycles between modules of core/ and reads of another object's
private attributes (``other._name``).

The scan is the authority. ``lint-imports`` (import-linter, contracts in pyproject.toml) checks
the core layers a second way; it cannot see ``labelwise.dashboard``, which is installed from
dashboard/ rather than core/dashboard/.
"""

from __future__ import annotations

import ast
import functools
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "labelwise"
CORE_LAYERS = {"errors": 0, "engine": 1, "data": 2, "studies": 3, "labels": 3, "cli": 4}
ENGINE_FORBIDDEN = ("sqlite3", "pyarrow", "streamlit", "pandas.io")
# pandas' file writers (readers are ``pd.read_*``): storage belongs to the data and labels layers.
PANDAS_WRITERS = {"to_csv", "to_parquet", "to_sql", "to_feather", "to_excel", "to_hdf",
                  "to_pickle", "to_json", "to_stata", "to_orc"}
# Private-looking names that are public API: namedtuple's methods and fields (Python's docs say
# the underscore only avoids clashes with field names).
PUBLIC_UNDERSCORE = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}


@dataclass(frozen=True)
class Violation:
    path: str  # relative to the scanned root, e.g. "core/engine/knn.py"
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.message}"


@dataclass(frozen=True)
class Source:
    path: Path
    relative: str
    module: str  # dotted import name, e.g. "labelwise.engine.knn"
    is_package: bool  # an __init__.py
    tree: ast.Module


@dataclass(frozen=True)
class Import:
    source: Source
    line: int
    target: str  # absolute dotted module name (or the module holding an imported name)


# ---------------------------------------------------------------------------------- reading


def module_name(root: Path, path: Path) -> tuple[str, bool]:
    """Import name of a file under core/ (as ``labelwise``) or dashboard/."""
    relative = path.relative_to(root)
    top, *rest = relative.with_suffix("").parts
    prefix = [PACKAGE] if top == "core" else [PACKAGE, "dashboard"]
    is_package = rest[-1] == "__init__"
    parts = prefix + (rest[:-1] if is_package else rest)
    return ".".join(parts), is_package


def read_sources(root: Path) -> list[Source]:
    sources = []
    for folder in ("core", "dashboard"):
        for path in sorted((root / folder).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            module, is_package = module_name(root, path)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            sources.append(Source(path, path.relative_to(root).as_posix(), module, is_package,
                                  tree))
    return sources


def resolve(source: Source, node: ast.ImportFrom) -> str:
    """Absolute module of a ``from X import ...`` (relative levels resolved)."""
    if not node.level:
        return node.module or ""
    package = source.module.split(".")
    if not source.is_package:
        package = package[:-1]
    base = package[:len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(source: Source, modules: set[str]) -> Iterator[Import]:
    """Every import in ``source`` (functions included), as the modules it reaches.

    ``from pkg import name`` reaches ``pkg.name`` when that is a module of ours, else ``pkg``.
    """
    for node in ast.walk(source.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(source, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = resolve(source, node)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield Import(source, node.lineno, candidate if candidate in modules else base)


def layer_of(module: str) -> str | None:
    """``engine``, ``data``, ..., ``facade`` (the package), ``dashboard``; None if not ours."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    if len(parts) == 1:
        return "facade"
    return parts[1]


def public_names(root: Path) -> set[str]:
    """``__all__`` of core/__init__.py: what the dashboard may import from ``labelwise``."""
    tree = ast.parse((root / "core" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value)) | {"__version__"}
    return set()


# ------------------------------------------------------------------------------------ rules


def layer_violation(imp: Import) -> str | None:
    """Why a core/ module may not import ``imp.target`` (None when it may)."""
    own = layer_of(imp.source.module)
    target = layer_of(imp.target)
    if target is None or own == "facade":
        return None
    if target == "facade":
        return (f"imports the package façade {imp.target!r}, which loads every layer; import "
                "from the module that defines the name")
    if target == "dashboard":
        return "imports the dashboard"
    if own == "errors":
        return f"errors.py is a leaf but imports {imp.target!r}"
    if target == own:
        return None
    if target not in CORE_LAYERS:
        return f"imports {imp.target!r}, which is in no layer"
    if CORE_LAYERS[target] >= CORE_LAYERS[own]:
        relation = "its sibling" if CORE_LAYERS[target] == CORE_LAYERS[own] else "the higher"
        return f"layer {own!r} imports {relation} layer {target!r} ({imp.target})"
    return None


def dashboard_violation(imp: Import, node_names: list[str], public: set[str]) -> str | None:
    """Why a dashboard module may not import ``imp.target`` (None when it may)."""
    if layer_of(imp.target) in (None, "dashboard"):
        return None
    if imp.target != PACKAGE:
        return f"imports {imp.target!r}; the dashboard may use only labelwise's public names"
    hidden = [n for n in node_names if n not in public]
    if hidden:
        return f"imports {', '.join(hidden)} from labelwise, which are not in its __all__"
    return None


def import_violations(sources: list[Source], public: set[str]) -> Iterator[Violation]:
    modules = {s.module for s in sources}
    for source in sources:
        in_core = source.relative.startswith("core/")
        names_at = {node.lineno: [a.name for a in node.names] for node in ast.walk(source.tree)
                    if isinstance(node, ast.ImportFrom)}
        for imp in imports_of(source, modules):
            top = imp.target.split(".")[0]
            if in_core and top == "streamlit":
                yield Violation(source.relative, imp.line, "no-streamlit",
                                "core/ imports streamlit; only the dashboard may")
            if in_core and layer_of(source.module) == "engine" and any(
                    imp.target == f or imp.target.startswith(f + ".") for f in ENGINE_FORBIDDEN):
                yield Violation(source.relative, imp.line, "engine-io",
                                f"the engine imports {imp.target!r}: storage I/O belongs to "
                                "data/ and labels/")
            why = (layer_violation(imp) if in_core
                   else dashboard_violation(imp, names_at.get(imp.line, []), public))
            if why:
                yield Violation(source.relative, imp.line, "layers", why)


def pandas_aliases(tree: ast.Module) -> set[str]:
    """Names under which a module imported pandas (``pd`` for ``import pandas as pd``)."""
    return {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
            for alias in node.names if alias.name == "pandas"}


def pandas_io_violations(sources: list[Source]) -> Iterator[Violation]:
    """pandas readers (``pd.read_csv``) and writers (``frame.to_parquet``) used in engine/."""
    for source in sources:
        if layer_of(source.module) != "engine":
            continue
        pandas = pandas_aliases(source.tree)
        for node in ast.walk(source.tree):
            if not isinstance(node, ast.Attribute):
                continue
            reader = (node.attr.startswith("read_") and isinstance(node.value, ast.Name)
                      and node.value.id in pandas)
            if reader or node.attr in PANDAS_WRITERS:
                yield Violation(source.relative, node.lineno, "engine-io",
                                f"the engine uses pandas I/O ({ast.unparse(node)}); storage "
                                "belongs to data/ and labels/")


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return sorted(components, key=lambda c: (-len(c), c))


def cycle_violations(sources: list[Source]) -> Iterator[Violation]:
    """Import cycles between modules of core/ (any import, function-level ones included)."""
    core = [s for s in sources if s.relative.startswith("core/")]
    modules = {s.module for s in sources}
    core_modules = {s.module for s in core}
    graph: dict[str, set[str]] = {s.module: set() for s in core}
    first_line: dict[tuple[str, str], int] = {}
    for source in core:
        for imp in imports_of(source, modules):
            if imp.target in core_modules and imp.target != source.module:
                graph[source.module].add(imp.target)
                first_line.setdefault((source.module, imp.target), imp.line)
    relative = {s.module: s.relative for s in core}
    for component in strongly_connected(graph):
        if len(component) < 2:
            continue
        arrows = [f"{relative[a]}:{first_line[(a, b)]} -> {b}" for a in component
                  for b in sorted(graph[a]) if b in component]
        head = component[0]
        step = next(t for t in sorted(graph[head]) if t in component)
        yield Violation(relative[head], first_line[(head, step)], "cycle",
                        f"import cycle between {', '.join(component)} ({'; '.join(arrows)})")


def module_level_names(tree: ast.Module) -> set[str]:
    """Names bound at a module's top level (classes, functions, assignments, imports)."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def private_read_violations(sources: list[Source]) -> Iterator[Violation]:
    """``other._name``: reading a private attribute of an object that is not ``self``/``cls``."""
    for source in sources:
        own = module_level_names(source.tree) | {"self", "cls"}
        for node in ast.walk(source.tree):
            if not isinstance(node, ast.Attribute):
                continue
            name = node.attr
            if (not name.startswith("_") or (name.startswith("__") and name.endswith("__"))
                    or name in PUBLIC_UNDERSCORE):
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in own:
                continue
            if (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name)
                    and owner.func.id == "super"):
                continue
            yield Violation(source.relative, node.lineno, "private",
                            f"reads {ast.unparse(node)}, a private attribute of another object")


def check_layers(root: Path) -> list[Violation]:
    """Every layer, cycle and privacy violation in ``root``'s core/ and dashboard/ folders."""
    sources = read_sources(Path(root))
    found = [*import_violations(sources, public_names(Path(root))),
             *pandas_io_violations(sources), *cycle_violations(sources),
             *private_read_violations(sources)]
    return sorted(set(found), key=lambda v: (v.path, v.line, v.rule, v.message))


# ------------------------------------------------------------------------------------ tests


def report(violations: list[Violation]) -> str:
    return "\n".join(str(v) for v in violations)


@pytest.mark.parametrize("rule", ["layers", "no-streamlit", "engine-io", "cycle", "private"])
def test_the_tree_keeps_the_rule(rule):
    violations = sorted((v for v in violations_of_the_tree() if v.rule == rule),
                        key=lambda v: (v.path, v.line))
    assert not violations, "\n" + report(violations)


@pytest.fixture
def tree_copy(tmp_path) -> Path:
    """A copy of core/ and dashboard/ to break on purpose."""
    for folder in ("core", "dashboard"):
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def append(path: Path, code: str) -> int:
    """Append ``code`` to ``path``; the line number of its first line."""
    text = path.read_text(encoding="utf-8")
    text += "" if text.endswith("\n") else "\n"
    path.write_text(text + code, encoding="utf-8")
    return text.count("\n") + 1


@functools.cache
def violations_of_the_tree() -> frozenset[Violation]:
    return frozenset(check_layers(ROOT))


def new_violations(root: Path) -> set[Violation]:
    """What breaking the copy added (the real tree may have violations of its own)."""
    return set(check_layers(root)) - violations_of_the_tree()


BROKEN = [
    ("core/engine/knn.py", "from ..labels.store import LabelStore\n", 0, "layers",
     "layer 'engine' imports the higher layer 'labels'"),
    ("core/engine/knn.py", "def lazy():\n    from ..labels import store\n", 1, "layers",
     "layer 'engine' imports the higher layer 'labels'"),
    ("core/studies/metrics.py", "import labelwise.labels.store\n", 0, "layers",
     "layer 'studies' imports its sibling layer 'labels'"),
    ("core/errors.py", "from .engine import knn\n", 0, "layers", "errors.py is a leaf"),
    ("core/data/packs.py", "from .. import LabelingSession\n", 0, "layers", "façade"),
    ("core/labels/store/operations.py", "def show():\n    import streamlit as st\n", 1,
     "no-streamlit", "streamlit"),
    ("core/engine/state.py", "import sqlite3\n", 0, "engine-io", "sqlite3"),
    ("core/engine/state.py", "def save(t):\n    t.to_parquet('x')\n", 1, "engine-io",
     "to_parquet"),
    ("core/engine/scorers.py", "import pandas as pds\nt = pds.read_csv('x')\n", 1,
     "engine-io", "pds.read_csv"),
    ("dashboard/app.py", "from labelwise.engine.session import LabelingSession\n", 0,
     "layers", "only labelwise's public names"),
    ("dashboard/app.py", "from labelwise import __getattr__, _LAZY\n", 0, "layers",
     "not in its __all__"),
    ("core/engine/knn.py", "def peek(session):\n    return session._code\n", 1, "private",
     "session._code"),
]


@pytest.mark.parametrize(("file", "code", "offset", "rule", "message"), BROKEN,
                         ids=[f"{b[3]}:{b[0]}:{b[2]}" for b in BROKEN])
def test_the_checker_reports_a_broken_rule_with_file_and_line(tree_copy, file, code, offset,
                                                              rule, message):
    line = append(tree_copy / file, code) + offset
    found = new_violations(tree_copy)
    # An upward import also closes import cycles (errors -> engine -> errors): reported apart.
    broken = [v for v in found if v.rule != "cycle"]
    assert [(v.path, v.line, v.rule) for v in broken] == [(file, line, rule)], report(found)
    assert message in broken[0].message


def test_the_checker_reports_an_import_cycle(tree_copy):
    engine = tree_copy / "core" / "engine"
    (engine / "ping.py").write_text("def f():\n    from . import pong\n", encoding="utf-8")
    (engine / "pong.py").write_text("from .ping import f\n", encoding="utf-8")
    cycles = [v for v in new_violations(tree_copy) if v.rule == "cycle"]
    assert [(v.path, v.line) for v in cycles] == [("core/engine/ping.py", 2)]
    assert "labelwise.engine.ping, labelwise.engine.pong" in cycles[0].message


def test_the_checker_allows_what_the_rules_allow(tree_copy):
    allowed = ("import numpy as np\n"
               "from . import knn\n"
               "from ..errors import InvalidInputError\n"
               "from pathlib import Path\n"
               "_CACHE = {}\n"
               "NOTES = Path('notes.txt').read_text()\n"
               "class Box:\n"
               "    def f(self, other):\n"
               "        _CACHE._x = self._y, other.__class__, super()._z\n"
               "        return other._replace(a=1)\n")
    append(tree_copy / "core" / "engine" / "vectors.py", allowed)
    append(tree_copy / "core" / "__init__.py", "from .cli import main as _main\n")
    append(tree_copy / "dashboard" / "app.py",
           "import labelwise\nfrom labelwise import LabelingSession\nfrom . import widgets\n")
    assert not new_violations(tree_copy)


def test_strongly_connected_matches_brute_force_reachability():
    rng = random.Random(4)
    nodes = [f"m{i}" for i in range(12)]
    graph = {n: {m for m in nodes if m != n and rng.random() < 0.12} for n in nodes}

    def reachable(start):
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reach = {n: reachable(n) for n in nodes}
    expected = {frozenset({n} | {m for m in nodes if m in reach[n] and n in reach[m]})
                for n in nodes}
    assert {frozenset(c) for c in strongly_connected(graph)} == expected


def test_import_linter_contracts_hold():
    """import-linter's view of the core layers (pyproject.toml) agrees with the scan."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
