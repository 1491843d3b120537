"""The house rules of DESIGN.md, enforced on the source tree.

- Library code never imports the command line (`control_as_inference.cli`).
- No module imports another subpackage's underscore names (modules or attributes); the one shared
  private module is `control_as_inference._core`.
- A module imports a family (or the engine) only through names in that family's `__all__`, from the
  family package itself (`from ..tabular import infer`, never `from ..tabular.inference import`);
  the engine's names may also come from its public modules.
- The command line (`cli`) has no import circle, counting imports inside functions.
- One list of the families (`cai.FAMILIES`, `cai.FOUNDATIONS`) drives the lazy exports, this file
  and the docs: every family has an API page, a row in the API index, a nav entry and a line on the
  layout page.
- The subpackages depend on each other without cycles.
- No source file much over 400 lines; no private function with more than 7 parameters.
- `import control_as_inference` is cheap (no JAX) and every family is reachable from it.

Each rule has a negative control: the checker is run on a snippet that breaks it.
"""

from __future__ import annotations

import ast
import pathlib
import re
import subprocess
import sys

import pytest

import control_as_inference as cai

PACKAGE = "control_as_inference"
ROOT = pathlib.Path(cai.__file__).parent
DOCS = pathlib.Path(__file__).parent.parent / "docs"
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


def public_names(package: str) -> set[str]:
    """The names of a subpackage's `__all__`, read from its source (no import)."""
    tree = ast.parse((ROOT / package / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                return set(ast.literal_eval(node.value))
    raise AssertionError(f"{package}/__init__.py has no literal __all__")


def borrowed_names(package: str) -> set[str]:
    """The names a subpackage's `__init__` takes from another subpackage (`tabular` re-exports the
    engine's `ConvergenceWarning`): other modules import them from their home instead."""
    found = set()
    for node in ast.parse((ROOT / package / "__init__.py").read_text()).body:
        if isinstance(node, ast.ImportFrom) and (
            node.level >= 2 or (node.level == 0 and (node.module or "").startswith(PACKAGE))
        ):
            found |= {alias.asname or alias.name for alias in node.names}
    return found


def own_public_names(package: str) -> set[str]:
    """`__all__` less the names borrowed from other subpackages."""
    return public_names(package) - borrowed_names(package)


def boundary_violations(
    module: str, source: str, exported: dict[str, set[str]], is_package: bool = False
) -> list[str]:
    """Imports of another family (a key of `exported`) that bypass its `__all__`: a submodule
    (`..tabular.inference`), or a name the family does not export. The engine's public modules may
    be named, with a name of the engine's `__all__`."""
    found = []
    home = room(module)
    for target, name in imports(module, source, is_package):
        if target == PACKAGE and name is not None:
            target, name = f"{PACKAGE}.{name}", None
        there = room(target)
        if there == home or there not in exported:
            continue
        package = f"{PACKAGE}.{there}"
        through = target == package or (there in cai.FOUNDATIONS and name is not None)
        if not through or (name is not None and name not in exported[there]):
            found.append(f"{module} bypasses {there}'s __all__: {target} {name or ''}")
    return found


def test_families_are_imported_only_through_their_all():
    exported = {name: own_public_names(name) for name in (*cai.FOUNDATIONS, *cai.FAMILIES)}
    found = []
    for module, path in modules().items():
        found += boundary_violations(module, path.read_text(), exported, path.name == "__init__.py")
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    "module, snippet",
    [
        (f"{PACKAGE}.irl.objective", "from ..tabular.inference import infer"),  # a submodule
        (f"{PACKAGE}.irl.airl_sac", "from ..agents import key_data"),  # not in __all__
        (f"{PACKAGE}.lqr.riccati", "from ..engine.solvers import not_exported"),
        (f"{PACKAGE}.cli.kl", "def f():\n    import control_as_inference.kl.gridworld\n"),
    ],
)
def test_negative_control_the_boundary_rule_catches(module, snippet):
    exported = {
        "tabular": {"infer"},
        "agents": {"sac_init"},
        "engine": {"fixed_point"},
        "kl": set(),
    }
    assert boundary_violations(module, snippet, exported)


def test_negative_control_a_re_exported_name_is_taken_from_its_home():
    assert "ConvergenceWarning" in borrowed_names("tabular")  # tabular re-exports the engine's
    exported = {"tabular": own_public_names("tabular"), "engine": own_public_names("engine")}
    assert boundary_violations(
        f"{PACKAGE}.kl.first_exit", "from ..tabular import ConvergenceWarning", exported
    )
    assert not boundary_violations(
        f"{PACKAGE}.kl.first_exit", "from ..engine import ConvergenceWarning", exported
    )


def test_boundary_rule_allows_the_family_package_and_the_engine():
    exported = {"tabular": {"infer"}, "engine": {"fixed_point"}}
    source = (
        "from ..tabular import infer\nfrom .. import tabular\nfrom ..engine.solvers import "
        "fixed_point\nfrom .passes import backward\nfrom .._core import once"
    )
    assert boundary_violations(f"{PACKAGE}.irl.maxent", source, exported) == []


def foundation_violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """Imports of a family (or the command line) by a foundation (the engine): it may import only
    itself and `_core`."""
    found = []
    for target, name in imports(module, source, is_package):
        if target == PACKAGE and name is not None:
            target = f"{PACKAGE}.{name}"
        if room(target) not in (room(module), "_core"):
            found.append(f"{module} imports {target}")
    return found


def test_the_engine_imports_no_family():
    found = []
    for module, path in modules().items():
        if room(module) in cai.FOUNDATIONS:
            found += foundation_violations(module, path.read_text(), path.name == "__init__.py")
    assert not found, found
    # negative control: an import inside a function counts
    assert foundation_violations(
        f"{PACKAGE}.engine.solvers", "def f():\n    from ..tabular import infer"
    )


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


def module_graph(room_name: str, sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """module -> the modules of the same room it imports, at module level or inside functions
    (`from . import irl` counts as importing the module `irl`). `sources`: module -> (source,
    is_package)."""
    graph: dict[str, set[str]] = {}
    for module, (source, is_package) in sources.items():
        for target, name in imports(module, source, is_package):
            if name is not None and f"{target}.{name}" in sources:
                target = f"{target}.{name}"
            if room(target) == room_name and target != module:
                graph.setdefault(module, set()).add(target)
    return graph


def test_the_command_line_has_no_import_circle():
    sources = {
        module: (path.read_text(), path.name == "__init__.py")
        for module, path in modules().items()
        if room(module) == "cli"
    }
    cycles = dependency_cycles(module_graph("cli", sources))
    assert not cycles, cycles


def test_negative_control_an_import_circle_inside_functions_is_caught():
    cli = f"{PACKAGE}.cli"
    sources = {
        f"{cli}.irl": ("from .irl_methods import dispatch", False),
        f"{cli}.irl_methods": ("def f():\n    from .irl_airl import run_airl\n", False),
        f"{cli}.irl_airl": ("def g():\n    from . import irl\n", False),
        cli: ("from . import irl", True),
    }
    assert dependency_cycles(module_graph("cli", sources))


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
        "for name in (*cai.FOUNDATIONS, *cai.FAMILIES, 'plotting'):\n"
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
    for family in (*cai.FOUNDATIONS, *cai.FAMILIES):
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


def test_every_subpackage_is_in_the_one_list():
    folders = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"_core", "cli"}
    assert folders == {*cai.FOUNDATIONS, *cai.FAMILIES}, folders ^ {*cai.FOUNDATIONS, *cai.FAMILIES}
    assert cai._SUBPACKAGES == (*cai.FOUNDATIONS, *cai.FAMILIES, "plotting")
    # the static analysers' copy (a literal `from . import (...)` under TYPE_CHECKING)
    tree = ast.parse((ROOT / "__init__.py").read_text())
    static = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module is None
        for alias in node.names
    }
    assert static == set(cai._SUBPACKAGES), static ^ set(cai._SUBPACKAGES)


def shadowed(family: str) -> list[str]:
    """Public names of a family that are also the names of its modules (`irl.airl_sac`): the docs'
    renderer (griffe) takes the module, so the package's API block leaves the function out."""
    modules = {p.stem for p in (ROOT / family).glob("*.py")}
    return sorted(public_names(family) & modules)


def docs_omissions(
    family: str, api: dict[str, str], index: str, layout: str, nav: str, hidden=()
) -> list[str]:
    """What the docs lack for one family: its API page (docs/api/FAMILY.md rendering the package,
    and each `hidden` name explicitly), its row in the API index, its nav entry, its line in the
    layout page's tree."""
    missing = []
    page = api.get(family, "")
    if f"::: {PACKAGE}.{family}\n" not in page:
        missing.append(f"docs/api/{family}.md with '::: {PACKAGE}.{family}'")
    for name in hidden:
        if f"::: {PACKAGE}.{family}.{name}.{name}\n" not in page:
            missing.append(f"'::: {PACKAGE}.{family}.{name}.{name}' in docs/api/{family}.md")
    if f"[`{PACKAGE}.{family}`]({family}.md)" not in index:
        missing.append(f"a row for {family} in docs/api/index.md")
    if f"api/{family}.md" not in nav:
        missing.append(f"api/{family}.md in mkdocs.yml's nav")
    if not re.search(rf"^    {family}/ ", layout, flags=re.MULTILINE):
        missing.append(f"a line '    {family}/' in docs/layout.md")
    return missing


def read_docs() -> tuple[dict[str, str], str, str, str]:
    api = {p.stem: p.read_text() for p in (DOCS / "api").glob("*.md") if p.stem != "index"}
    index = (DOCS / "api" / "index.md").read_text()
    nav = (DOCS.parent / "mkdocs.yml").read_text()
    return api, index, (DOCS / "layout.md").read_text(), nav


@pytest.mark.skipif(not DOCS.is_dir(), reason="the docs are not beside the tests")
def test_docs_api_pages_index_and_layout_follow_the_one_list():
    api, index, layout, nav = read_docs()
    names = (*cai.FOUNDATIONS, *cai.FAMILIES)
    missing = []
    for name in names:
        missing += docs_omissions(name, api, index, layout, nav, shadowed(name))
    assert not missing, missing
    assert set(api) == {*names, "plotting"}, "an API page for something not in the one list"
    assert "DESIGN.md" not in layout  # the design notes are not shipped: the page stands alone


@pytest.mark.skipif(not DOCS.is_dir(), reason="the docs are not beside the tests")
def test_negative_control_docs_omissions_are_caught():
    api, index, layout, nav = read_docs()
    assert docs_omissions("newfamily", api, index, layout, nav)  # a family with no docs at all
    index = index.replace("(policy_search.md)", "(policy-search.md)")
    layout = layout.replace("    policy_search/ ", "    policy/ ")
    assert len(docs_omissions("policy_search", api, index, layout, nav)) == 2
    assert shadowed("irl") and "airl_sac" in shadowed("irl")
    api["irl"] = api["irl"].replace(f"{PACKAGE}.irl.airl_sac.airl_sac", "")
    assert docs_omissions("irl", api, index, layout, nav, ["airl_sac"])  # the page before the fix
