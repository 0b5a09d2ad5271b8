"""The packages form layers, and imports only run downward (README, "Code layout"): a module
may import its own package and the layers below it, never one above or beside it."""

import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Lowest first. training/ and inference/ sit side by side: neither imports the other.
LAYERS = {"util": 0, "data": 1, "evaluation": 2, "models": 3, "options": 4, "training": 5, "inference": 5}


def imported_packages(path: str):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0], node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_imports_run_downward(package):
    upward = []
    for name in sorted(os.listdir(os.path.join(ROOT, package))):
        if not name.endswith(".py"):
            continue
        path = os.path.join(ROOT, package, name)
        for target, line in imported_packages(path):
            if target in LAYERS and target != package and LAYERS[target] >= LAYERS[package]:
                upward.append(f"{package}/{name}:{line} imports {target}")
    assert not upward, upward


def test_every_package_has_a_layer():
    packages = {d for d in os.listdir(ROOT) if os.path.isfile(os.path.join(ROOT, d, "__init__.py"))}
    assert packages == set(LAYERS)


def test_the_readme_layout_table_names_every_module_where_it_lives():
    """README.md's "Code layout" table: one row per package, naming each of its modules."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    table = readme[readme.index("## Code layout"):]
    rows = {line.split("|")[1].strip().strip("`").rstrip("/"): line for line in table.splitlines()
            if line.startswith("| `")}
    for package in LAYERS:
        assert package in rows, f"no row for {package}/"
        modules = {n for n in os.listdir(os.path.join(ROOT, package)) if n.endswith(".py") and n != "__init__.py"}
        missing = {m for m in modules if f"`{m}`" not in rows[package]}
        assert not missing, f"{package}/: {sorted(missing)} not in the README's row"
        named = set(re.findall(r"`([a-z_]+\.py)`", rows[package]))
        assert named <= modules | {"__init__.py"}, f"{package}/: the README names {sorted(named - modules)}, which are not there"
