"""Architecture rules of the shipped code, checked on the source tree (see docs/architecture.md).

The shipped code is whatsapp/**, storage/**, plugins/**, bot.py and botconfig.py; generated `*_pb2` modules
are left out. The rules:

1. Every shipped module imports on its own, in a process where no other project module was imported
   before it: no module works only because another one happened to be imported first.
2. No import cycle among the shipped modules. The graph is built from the AST of the imports that run when a
   module is imported: module-level statements, including those under a module-level `if`/`try`/`with`
   and in class bodies. Not counted:
   - imports under `if TYPE_CHECKING:` — they never run; they exist so annotations can name a type
     without a runtime edge, which is the sanctioned way to break a cycle of annotations;
   - imports inside a function — they run on the first call, after every module finished importing.
   An edge goes to the most specific module named (`from a.b import c` is a.b.c when that is a module,
   else a.b); the packages above it are not edges, since a package's `__init__` re-exporting its own
   submodules would otherwise always be a cycle.
3. No hand-written module over 450 lines (tests aside): one module per concern.
4. Comments and docs cite this repository's docs/*.md or an upstream source file, never notes that live
   outside the repository; a citation of docs/<name>.md names a file that exists and, with `§Section`, one of
   its headings.
5. bench/ imports nothing from tests/ (their shared helpers live in `whatsapp.testing.harness`), and the
   shipped code imports nothing from tests/ either.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("whatsapp", "storage", "plugins")
TOP_MODULES = ("bot.py", "bot_device.py", "botconfig.py", "botlog.py", "botmetrics.py", "botstart.py", "botstatus.py",
               "sandbox.py")
MAX_LINES = 450
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def _generated(path: Path) -> bool:
    return path.name.endswith(("_pb2.py", "_pb2.pyi"))


def shipped_files() -> list[Path]:
    files = [ROOT / name for name in TOP_MODULES if (ROOT / name).is_file()]
    for package in PACKAGES:
        files += [p for p in sorted((ROOT / package).rglob("*.py")) if "__pycache__" not in p.parts]
    return [p for p in files if not _generated(p)]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


SHIPPED = {module_name(p): p for p in shipped_files()}


# -- 1. every module imports on its own ---------------------------------------------------------------------


@dataclass(frozen=True)
class ImportOutcome:
    returncode: int
    output: str


def third_party_imports() -> list[str]:
    """The standard-library and third-party modules the shipped code imports at import time."""
    roots = {name.split(".")[0] for name in SHIPPED}
    names: set[str] = set()
    for path in SHIPPED.values():
        for node in _import_time_imports(ast.parse(path.read_text(), str(path)).body):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif node.level == 0 and node.module:
                names.add(node.module)
    return sorted(name for name in names if name.split(".")[0] not in roots)


@pytest.fixture(scope="module")
def import_outcomes() -> dict[str, ImportOutcome]:
    """Each module imported in a process of its own, two at a time (the machine has two cores).

    tests/import_probe.py forks the processes from one fresh interpreter that has imported only the standard
    library and third-party modules the project uses (never a project module), which makes this ten times
    cheaper than an interpreter per module while still proving that no project module depends on another
    having been imported first."""
    workers = max(1, min(2, os.cpu_count() or 1))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    roots = sorted({name.split(".")[0] for name in SHIPPED})
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "import_probe.py"), str(workers), json.dumps(roots),
         json.dumps(third_party_imports())],
        input=json.dumps(sorted(SHIPPED)),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"the import probe failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    outcomes = {}
    for line in proc.stdout.splitlines():
        result = json.loads(line)
        outcomes[result["module"]] = ImportOutcome(result["returncode"], result["output"])
    return outcomes


def _probe(cwd: Path, roots: list[str], preload: list[str], modules: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "tests" / "import_probe.py"), "2", json.dumps(roots), json.dumps(preload)],
        input=json.dumps(modules), cwd=cwd, capture_output=True, text=True, timeout=60,
    )


def test_import_probe_catches_an_import_order_dependency(tmp_path: Path) -> None:
    package = tmp_path / "probe_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "setup.py").write_text("import probe_pkg\nprobe_pkg.ready = True\n")
    (package / "needs_setup.py").write_text("import probe_pkg\nassert probe_pkg.ready\n")  # relies on setup
    (package / "fine.py").write_text("from probe_pkg import setup\nimport json\n")
    proc = _probe(tmp_path, ["probe_pkg"], ["json"], ["probe_pkg.setup", "probe_pkg.needs_setup", "probe_pkg.fine"])
    results = {r["module"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert proc.returncode == 0, proc.stderr
    assert results["probe_pkg.setup"]["returncode"] == 0
    assert results["probe_pkg.fine"]["returncode"] == 0
    assert results["probe_pkg.needs_setup"]["returncode"] == 1
    assert "AttributeError" in results["probe_pkg.needs_setup"]["output"]


def test_import_probe_refuses_to_preload_a_project_module(tmp_path: Path) -> None:
    (tmp_path / "probe_mod.py").write_text("")
    proc = _probe(tmp_path, ["probe_mod"], ["probe_mod"], ["probe_mod"])
    assert proc.returncode != 0
    assert "preloading imported project modules" in proc.stderr


@pytest.mark.parametrize("module", sorted(SHIPPED))
def test_module_imports_on_its_own(module: str, import_outcomes: dict[str, ImportOutcome]) -> None:
    outcome = import_outcomes[module]
    assert outcome.returncode == 0, f"`import {module}` on its own failed:\n{outcome.output}"


# -- 2. no import cycle -------------------------------------------------------------------------------------


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_time_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run when the module body runs (see the module docstring)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _import_time_imports(node.body)
            yield from _import_time_imports(node.orelse)
        elif isinstance(node, ast.Try | ast.TryStar):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _import_time_imports(block)
        elif isinstance(node, ast.With | ast.AsyncWith | ast.For | ast.AsyncFor | ast.While | ast.ClassDef):
            yield from _import_time_imports(node.body)
            if isinstance(node, ast.For | ast.AsyncFor | ast.While):
                yield from _import_time_imports(node.orelse)
        elif isinstance(node, ast.Match):
            for case in node.cases:
                yield from _import_time_imports(case.body)


def _resolve_relative(module: str, level: int, name: str | None, is_package: bool) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, name] if name else base)


def import_edges(module: str, path: Path) -> set[str]:
    """The shipped modules `module` imports at import time."""
    tree = ast.parse(path.read_text(), str(path))
    edges: set[str] = set()
    for node in _import_time_imports(tree.body):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                base = _resolve_relative(module, node.level, node.module, path.name == "__init__.py")
            # `from pkg import sub` names the submodule when there is one, else a name defined in pkg.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in SHIPPED else base for a in node.names]
        for target in targets:
            # `import a.b.c` of a non-shipped leaf (a _pb2 module): the nearest shipped module above it.
            while target and target not in SHIPPED:
                target = target.rpartition(".")[0]
            if target and target != module:
                edges.add(target)
    return edges


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as one cycle through them."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:  # iterative, so deep graphs cannot hit the recursion limit
        nonlocal counter
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
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
                if len(component) > 1:
                    components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_one_cycle(graph, set(component)) for component in components]


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, for a readable failure."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & component):
            if child == start:
                return [*paths[node], start]
            if child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    raise AssertionError(f"no cycle through {start}")  # a strongly connected component always has one


def test_find_cycles_reports_a_cycle_and_only_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_type_checking_and_function_imports_are_not_edges(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import whatsapp.jid\n"
        "if TYPE_CHECKING:\n    from whatsapp.client import Client\n"
        "try:\n    from whatsapp import keys\nexcept ImportError:\n    pass\n"
        "def later():\n    from whatsapp import cipher\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert import_edges("probe", path) == {"whatsapp.jid", "whatsapp.keys"}


def test_no_import_cycle_among_shipped_modules() -> None:
    graph = {module: import_edges(module, path) for module, path in SHIPPED.items()}
    cycles = find_cycles(graph)
    assert not cycles, "import cycles (module-level imports, TYPE_CHECKING excluded):\n" + "\n".join(
        " -> ".join(cycle) for cycle in cycles
    )


# -- 3. module size -----------------------------------------------------------------------------------------


def hand_written_files() -> list[Path]:
    """Shipped modules plus bench/ and scripts/; tests and generated code aside."""
    files = shipped_files()
    for folder in ("bench", "scripts"):
        files += sorted((ROOT / folder).glob("*.py")) if (ROOT / folder).is_dir() else []
    return files


def test_no_hand_written_module_over_450_lines() -> None:
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in hand_written_files()}
    too_long = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines (split them by concern): {too_long}"


# -- 4. citations stay inside the repository ----------------------------------------------------------------

# Spelled in pieces so this file does not match itself.
_OUTSIDE_NOTES = re.compile(
    "|".join(
        [
            r"\b(?:field|protocol|interop)" + r"[-_]notes\b",
            r"\binterop" + r" P\d+",
            r"[(, ]" + r"P\d{1,2}\)",  # a bare item number of those notes: "P" and a number, in parentheses
            r"shared" + r"/docs",
            r"\.\./" + r"shared\b",
        ]
    ),
    re.IGNORECASE,
)
_TEXT_SUFFIXES = {".py", ".pyi", ".md", ".mjs", ".js", ".ts", ".sh", ".toml", ".txt", ".cfg", ".ini", ".yml", ".yaml"}


def repository_text_files() -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        for filename in filenames:
            path = Path(dirpath, filename)
            if path.suffix in _TEXT_SUFFIXES and not _generated(path):
                yield path


def test_no_citation_of_notes_outside_the_repository() -> None:
    found = []
    for path in repository_text_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if _OUTSIDE_NOTES.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not found, "cite docs/*.md or an upstream source file instead:\n" + "\n".join(found)


_DOC_MENTION = re.compile(r"docs/([\w-]+\.md)")


def doc_headings(doc: Path) -> list[str]:
    return [line.lstrip("#").strip() for line in doc.read_text().splitlines() if line.startswith("#")]


def test_citations_of_repository_docs_resolve() -> None:
    """`docs/<name>.md` names a file that exists, and each `§Section` after it on the line starts with a heading
    of that file (so "§Signal sessions and §Sender keys" resolves both)."""
    headings: dict[str, list[str]] = {}
    broken = []
    for path in repository_text_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for mention in _DOC_MENTION.finditer(line):
                doc = ROOT / "docs" / mention.group(1)
                where = f"{path.relative_to(ROOT)}:{number}"
                if not doc.is_file():
                    broken.append(f"{where}: {mention.group(0)} does not exist")
                    continue
                known = headings.setdefault(doc.name, doc_headings(doc))
                sections = line[mention.end() :].split("§")[1:]
                for index, section in enumerate(sections):
                    wrapped = index == len(sections) - 1 and section.strip()  # may go on on the next line
                    if not any(
                        section.startswith(heading) or (wrapped and heading.startswith(wrapped)) for heading in known
                    ):
                        broken.append(f"{where}: {doc.name} has no section §{section[:40]}")
    assert not broken, "\n".join(broken)


# -- 5. bench/ and the shipped code import nothing from tests/ ----------------------------------------------


def imports_of_tests(path: Path) -> list[str]:
    """Every import of the `tests` package anywhere in the file (functions included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [f"{path.relative_to(ROOT)}:{node.lineno}: {name}" for name in names if name.split(".")[0] == "tests"]
    return found


def test_bench_imports_nothing_from_tests() -> None:
    found = [hit for path in sorted((ROOT / "bench").glob("*.py")) for hit in imports_of_tests(path)]
    assert not found, "bench/ must use whatsapp.testing.harness, not test modules:\n" + "\n".join(found)


def test_shipped_code_imports_nothing_from_tests() -> None:
    found = [hit for path in SHIPPED.values() for hit in imports_of_tests(path)]
    assert not found, "\n".join(found)
