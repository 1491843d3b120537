"""The house rules of DESIGN.md, enforced on the source tree.

- Library code never imports the command line (`control_as_inference.cli`).
- No module imports another subpackage's underscore names (modules or attributes); the one shared
  private module is `control_as_inference._core`.
- The subpackages depend on each other without cycles.
- No source file much over 400 lines; no private function with more than 7 parameters.
- `import control_as_inference` is cheap (no JAX) and every family is reachable from it.

Each rule has a negative control: the checker is run on a snippet that breaks it.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import control_as_inference as cai

PACKAGE = "control_as_inference"
ROOT = pathlib.Path(cai.__file__).parent
MAX_LINES = 420
MAX_PRIVATE_PARAMETERS = 7


def modules() -> dict[str, pathlib.Path]:
    """Dotted module name -> file, for every module of the package."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join((PACKAGE, *parts))] = path
    return found


def imports(module: str, source: str, is_package: bool) -> list[tuple[str, str | None]]:
    """(imported module, imported attribute or None) for every import of the package's own
    modules anywhere in the source (module level or inside functions)."""
    found = []
    base = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name.startswith(PACKAGE)]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = ".".join([*base[: len(base) - node.level + 1], node.module or ""])
                target = target.rstrip(".")
            else:
                target = node.module or ""
            if target.startswith(PACKAGE):
                found += [(target, a.name) for a in node.names]
    return found


def room(module: str) -> str:
    """The subpackage (or top-level module) a module belongs to: 'tabular', 'cli', 'plotting'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """House-rule violations of one module's imports."""
    found = []
    home = room(module)
    for target, name in imports(module, source, is_package):
        if target == PACKAGE and name is not None and (name == "cli" or name.startswith("_")):
            target, name = f"{PACKAGE}.{name}", None
        there = room(target)
        if there == "cli" and home != "cli":
            found.append(f"{module} imports the command line ({target})")
        if there in (home, "_core", ""):
            continue
        private = [p for p in target.split(".")[1:] if p.startswith("_")]
        if private or (name is not None and name.startswith("_")):
            found.append(f"{module} imports a private name of {there}: {target} {name or ''}")
    return found


def test_no_module_reaches_into_another_packages_private_rooms():
    found = []
    for module, path in modules().items():
        found += violations(module, path.read_text(), path.name == "__init__.py")
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    "module, snippet",
    [
        (f"{PACKAGE}.irl.maxent", "from ..tabular import _kernels"),
        (f"{PACKAGE}.lqr.ilqr", "from .soft_lqr import x\nfrom ..tabular.mdp import _is_concrete"),
        (f"{PACKAGE}.distributed.sweep", "def f():\n    from ..cli import load\n"),
        (f"{PACKAGE}.plotting", "import control_as_inference.cli.io"),
    ],
)
def test_negative_control_the_import_rule_catches(module, snippet):
    assert violations(module, snippet)


def test_core_and_own_package_imports_are_allowed():
    source = "from .._core import is_concrete\nfrom . import _kernels\nfrom ..tabular import infer"
    assert violations(f"{PACKAGE}.tabular.inference", source) == []


def dependency_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first search (as the path that closes it)."""
    cycles, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return cycles


def test_subpackages_depend_on_each_other_without_cycles():
    graph: dict[str, set[str]] = {}
    for module, path in modules().items():
        for target, name in imports(module, path.read_text(), path.name == "__init__.py"):
            if target == PACKAGE and name is not None:
                target = f"{PACKAGE}.{name}"
            there, home = room(target), room(module)
            if there and home and there != home and home != "":
                graph.setdefault(home, set()).add(there)
    assert not dependency_cycles(graph), dependency_cycles(graph)
    assert dependency_cycles({"cli": {"distributed"}, "distributed": {"cli"}})  # negative control


def test_no_source_file_much_over_400_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for path in ROOT.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def long_private_functions(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("_"):
            if node.name.startswith("__"):
                continue
            args = node.args
            count = len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs)
            if count > MAX_PRIVATE_PARAMETERS:
                found.append(f"{node.name} ({count} parameters)")
    return found


def test_private_functions_take_few_parameters():
    found = []
    for path in ROOT.rglob("*.py"):
        where = path.relative_to(ROOT)
        found += [f"{where}: {f}" for f in long_private_functions(path.read_text())]
    assert not found, "\n".join(found)
    assert long_private_functions("def _f(a, b, c, d, e, f, g, h): pass")  # negative control


def test_import_is_cheap_and_every_family_is_reachable():
    code = (
        "import sys, control_as_inference as cai\n"
        "assert 'jax' not in sys.modules, 'importing the package imported jax'\n"
        "for name in ('agents', 'distributed', 'envs', 'irl', 'kl', 'lqr', 'mppi', 'policy_search',"
        " 'tabular'):\n"
        "    getattr(cai, name)\n"
        "cai.envs.from_gymnasium; cai.lqr.soft_lqr; cai.mppi.mppi_step; cai.irl.maxent_irl\n"
        "cai.kl.first_exit\n"
        "assert all(hasattr(cai, n) for n in cai.__all__)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_names_are_unique_across_families():
    """One meaning per public name: no two families export the same name for different objects."""
    owners: dict[str, object] = {}
    clashes = []
    families = ("agents", "distributed", "envs", "irl", "kl", "lqr", "mppi", "policy_search")
    for family in (*families, "tabular"):
        module = getattr(cai, family)
        for name in module.__all__:
            value = getattr(module, name)
            if name in owners and owners[name] is not value:
                clashes.append(f"{name} ({family})")
            owners[name] = value
    assert not clashes, clashes


@pytest.mark.parametrize(
    ("family", "new"), [("envs", "evaluate_policy"), ("agents", "evaluate_agent")]
)
def test_renamed_evaluate_functions_keep_a_deprecated_alias(family, new):
    module = getattr(cai, family)
    with pytest.warns(DeprecationWarning, match=new):
        assert module.evaluate is getattr(module, new)
    with pytest.raises(AttributeError):
        module.no_such_name
