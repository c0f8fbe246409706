"""What an install carries and what ``make run`` needs.

setup.py declares every file of ours that is not a module as package
data of its own directory, so a wheel carries the templates, the static
files, the migrations' template and the slave's .tac, and setuptools
installs them without warnings.  ``make run`` installs no test extras,
so nothing the farm runs (the demo included) may import them.
"""

import ast
import fnmatch
import pathlib
import runpy

import pytest
import setuptools

from tests.test_house import imports_of

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("buildmaster", "slave", "sequencer", "common", "migrations")
# setup.py's test extras, as the modules that import them name them.
TEST_EXTRAS = {"pytest", "pytest_twisted", "hypothesis", "playwright", "trac", "roundup"}


@pytest.fixture
def setup_arguments(monkeypatch):
    """What setup.py passes to setuptools.setup()."""
    given = {}
    monkeypatch.setattr(setuptools, "setup", lambda **arguments: given.update(arguments))
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / "setup.py"))
    return given


def data_files():
    """{dotted directory: [file names]} of every file under our packages
    that is not Python source."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*")):
            if path.is_file() and path.suffix not in (".py", ".pyc") \
                    and "__pycache__" not in path.parts:
                directory = ".".join(path.parent.relative_to(ROOT).parts)
                found.setdefault(directory, []).append(path.name)
    return found


def test_every_data_file_is_declared_in_its_own_directorys_package(setup_arguments):
    packages, package_data = setup_arguments["packages"], setup_arguments["package_data"]
    undeclared = {
        directory: [name for name in names if not any(
            fnmatch.fnmatch(name, pattern) for pattern in package_data.get(directory, []))]
        for directory, names in data_files().items()}
    assert {directory: names for directory, names in undeclared.items() if names} == {}
    assert sorted(set(data_files()) - set(packages)) == []
    assert "buildmaster.web.templates" in data_files()  # the walk finds them


def test_every_declared_package_is_a_directory_of_ours(setup_arguments):
    assert [name for name in setup_arguments["packages"]
            if not (ROOT / name.replace(".", "/")).is_dir()] == []
    assert set(setup_arguments["package_data"]) <= set(setup_arguments["packages"])


def project_modules():
    """{dotted name: path} of every module of ours, the test helpers included."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def outside_imports(path):
    """The top-level names of what ``path`` imports from outside the project."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.partition(".")[0])
    return names


def test_nothing_the_farm_runs_needs_the_test_extras():
    """From every module but the test helpers (the daemon, the CLI, the
    slave, the demo ``make run`` starts), follow every import, at the top
    or inside a function, into the test helpers too: none is a test extra."""
    known = project_modules()
    reached, todo, via = set(), [name for name in known if ".testing" not in name], {}
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            for dep in imports_of(name, known[name], set(known)) - reached:
                via.setdefault(dep, name)
                todo.append(dep)

    def chain(name):
        return [name] + (chain(via[name]) if name in via else [])
    needing = {" <- ".join(chain(name)): sorted(outside_imports(known[name]) & TEST_EXTRAS)
               for name in reached if outside_imports(known[name]) & TEST_EXTRAS}
    assert needing == {}
    assert "buildmaster.testing.slaveprocess" in reached  # the demo's slaves
