"""The tree's shape, read from its imports: the architecture stays visible.

Every import counts, at the top of a module or inside a function, so a
lazy import that runs back up the layers is a cycle like any other.  A
package's own ``__init__`` is no edge for its members.  ``testing/`` is
left out: it is the suite's furniture, allowed to reach anything.
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("buildmaster", "slave", "sequencer", "common")
MAX_LINES = 450
MAX_FLAT = 15


def modules():
    """{dotted name: path} of every module of the project's packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "testing" in parts:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports_of(name, path, known):
    """The project modules ``name`` imports, resolved to the nearest known module."""
    def resolve(target):
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target or None

    is_package = path.name == "__init__.py"
    deps = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".") if is_package else name.split(".")[:-1]
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in filter(None, map(resolve, targets)):
            if target != name and not name.startswith(target + "."):
                deps.add(target)
    return deps


def import_graph():
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in graph[node]:
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_outside_the_model():
    """The model's relationships may name each other; nothing else may
    import its way back to itself."""
    outside = [cycle for cycle in cycles(import_graph())
               if not all(name.startswith("buildmaster.model") for name in cycle)]
    assert outside == []


def test_the_cycle_finder_finds_a_lazy_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_a_lazy_import_is_an_edge(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from buildmaster.scan import scanpass\n")
    assert imports_of("buildmaster.x", module,
                      {"buildmaster", "buildmaster.scan", "buildmaster.scan.scanpass"}) \
        == {"buildmaster.scan", "buildmaster.scan.scanpass"}


def test_no_module_is_longer_than_one_sitting():
    long = {name: lines for name, path in modules().items()
            if (lines := path.read_text().count("\n")) > MAX_LINES}
    assert long == {}


def test_few_modules_lie_flat_in_buildmaster():
    flat = [name for name, path in modules().items()
            if name.count(".") == 1 and name.startswith("buildmaster.")
            and path.name != "__init__.py"]
    assert len(flat) <= MAX_FLAT, sorted(flat)


def test_neither_the_master_nor_the_sequencer_depends_on_the_slave_daemon():
    graph = import_graph()
    reaching = sorted(f"{name} -> {dep}" for name, deps in graph.items()
                      if name.startswith(("buildmaster", "sequencer"))
                      for dep in deps if dep == "slave" or dep.startswith("slave."))
    assert reaching == []


def test_the_shared_package_depends_on_nothing_of_ours():
    graph = import_graph()
    assert {dep for name, deps in graph.items() if name.startswith("common")
            for dep in deps if not dep.startswith("common")} == set()
