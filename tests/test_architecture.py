"""The code's map holds: no import circle, and every module docs/architecture.md names exists."""

from __future__ import annotations

import re
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# Circles the lead removes later; any other circle is new and fails the test.


def import_cycles(graph: grimp.ImportGraph) -> set[frozenset[str]]:
    """Every strongly connected set of two or more modules (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()

    def imported(module: str) -> list[str]:
        return sorted(graph.find_modules_directly_imported_by(module))

    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(imported(start)))]
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
                    work.append((child, iter(imported(child))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def test_the_cycle_finder_finds_a_circle_and_nothing_else() -> None:
    graph = grimp.ImportGraph()
    for name in ("a", "b", "c", "d"):
        graph.add_module(name)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="c")
    graph.add_import(importer="c", imported="a")
    graph.add_import(importer="c", imported="d")
    assert import_cycles(graph) == {frozenset({"a", "b", "c"})}


def test_hyperhive_has_no_import_circle() -> None:
    graph = grimp.build_graph("hyperhive", exclude_type_checking_imports=True)
    assert import_cycles(graph) == set()


def concept_table() -> dict[str, list[str]]:
    """The "Where the code lives" table: concept -> the cells of its row."""
    text = ARCHITECTURE.read_text()
    section = text[text.index("## Where the code lives") :]
    section = section[: section.index("\n### ")]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header == ["concept", "service", "RPC", "SQL", "CLI", "TUI"]
    table = {}
    for line in rows[1:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        table[cells[0]] = cells[1:]
    return table


def test_every_module_the_concept_table_names_exists() -> None:
    table = concept_table()
    assert {"turns", "terminals", "repos", "approvals", "messages"} <= set(table)
    named = []
    for concept, cells in table.items():
        assert len(cells) == 5, f"{concept}: a row has five module cells"
        for cell in cells:
            if cell == "—":
                continue
            paths = re.findall(r"`([^`]+)`", cell)
            assert len(paths) == 1, f"{concept}: one module per cell, not {cell!r}"
            named.append(paths[0])
    missing = [path for path in named if not (ROOT / path).is_file()]
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"


def test_no_module_under_hyperhive_is_over_500_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in (ROOT / "hyperhive").rglob("*.py")
    }
    assert len(sizes) > 100
    assert {path: n for path, n in sizes.items() if n > 500} == {}
