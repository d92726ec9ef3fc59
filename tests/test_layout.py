"""The code's shape as a contract: stages layered without cycles, modules a person can hold.

docs/format.md fixes what users see; this fixes what a newcomer reads. The layering itself is
import-linter's contract in pyproject.toml (`lint-imports`, run here and by `make test`); the
cycle test below is stricter, at the level of single modules, and counts imports made
inside functions and under TYPE_CHECKING as well.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator, Mapping, Set
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "builder"

MAX_MODULE_LINES = 1000
MAX_CLASS_LINES = 400


def import_cycles(imports: Mapping[str, Set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm,
    iterative), each sorted: every module in one can reach every other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for start in sorted(imports):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(imports[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(imports.get(target, ())))))
                elif target in on_stack:
                    low[module] = min(low[module], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_import_cycles_are_found() -> None:
    imports = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert import_cycles(imports) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_builder_is_in_an_import_cycle() -> None:
    graph = grimp.build_graph("builder", cache_dir=None)
    imports = {module: graph.find_modules_directly_imported_by(module)
               for module in graph.modules}
    assert import_cycles(imports) == []


def test_the_stages_keep_their_layers() -> None:
    run = subprocess.run([str(Path(sys.executable).with_name("lint-imports")),
                          "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def _sizes() -> Iterator[tuple[str, int, int]]:
    """(where, lines, limit) of every module and class of the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT).as_posix()
        yield name, len(text.splitlines()), MAX_MODULE_LINES
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                yield (f"{name}:{node.lineno} class {node.name}",
                       node.end_lineno - node.lineno + 1, MAX_CLASS_LINES)


def test_modules_and_classes_stay_small_enough_to_read() -> None:
    too_big = [f"{where}: {lines} lines (at most {limit})"
               for where, lines, limit in _sizes() if lines > limit]
    assert too_big == []
