"""Rules on how the library is laid out, checked on its source."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dattt_nb"


def module_functions(package: Path = PACKAGE) -> dict[str, list[str]]:
    """{name: [module file, …]} of every module-level ``def`` in every .py under ``package`` (``__main__`` too)."""
    where = defaultdict(list)
    for path in sorted(package.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                where[node.name].append(str(path.relative_to(package.parent)))
    return dict(where)


def test_the_scan_sees_every_module():
    functions = module_functions()
    assert "dattt_nb/cli.py" in functions["main"]  # the console entry point
    assert any(m.endswith("__main__.py") for ms in functions.values() for m in ms)


def test_no_function_defined_twice():
    """One name, one function: a name defined in two modules (public or private) reads as the same thing."""
    twice = {name: modules for name, modules in module_functions().items() if len(modules) > 1}
    assert not twice, "module-level functions defined in more than one module:\n" + "\n".join(
        f"  {name}: {', '.join(modules)}" for name, modules in sorted(twice.items()))
