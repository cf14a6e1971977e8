"""List private names used across modules of the six packages: `from x import _name` and `x._name`.

A name starting with one underscore belongs to its module; another module that needs it should get it
public (or the code should move). Exits 1 and prints `file:line: module._name` for every use found.
Dunder names (`__version__`) are not private. Tests are not scanned: they may reach into a module.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGES = ("milai", "scheduler", "api", "alerts", "crawler", "storage")
ROOT = Path(__file__).resolve().parent.parent


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve(current: str, is_package: bool, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def uses(path: Path, root: Path) -> list[tuple[int, str]]:
    current = module_name(path, root)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[tuple[int, str]] = []
    modules: dict[str, str] = {}  # local name -> module it stands for (ours only)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in PACKAGES:  # `import a.b` binds a; `import a.b as c` binds c to a.b
                    modules[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom):
            source = resolve(current, is_package, node.level, node.module)
            if source.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                if _private(alias.name) and source != current:
                    found.append((node.lineno, f"{source}.{alias.name}"))
                elif not _private(alias.name):
                    # `from storage import search` binds a module; its attributes are checked below
                    modules[alias.asname or alias.name] = f"{source}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            chain: list[str] = []
            value: ast.expr = node.value
            while isinstance(value, ast.Attribute):
                chain.insert(0, value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in modules:
                target = ".".join([modules[value.id], *chain])
                if target != current:
                    found.append((node.lineno, f"{target}.{node.attr}"))
    return found


def main(argv: list[str] | None = None) -> int:
    root = Path(argv[0]).resolve() if argv else ROOT  # the repository to scan (default: this one)
    problems = 0
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            for line, name in uses(path, root):
                print(f"{path.relative_to(root)}:{line}: {name}")
                problems += 1
    if problems:
        print(f"{problems} private name(s) used outside their module: make them public where they are defined")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
