"""The layout shows the architecture: a core that imports nothing of Discord, the Discord runtime in one package,
no import circle, and a bot class assembled in one place and imported by nobody else."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

DISCORD_SIDE = ("bot.discord_app", "bot.__main__", "cogs")  # the packages that may import discord.py


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """What a module imports when it is imported (not inside functions, not for type checking only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If) and not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                visit(node.body + node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body + node.orelse + node.finalbody)

    visit(tree.body)
    return found


def project_modules() -> dict[str, set[str]]:
    modules = {module_name(p): p for root in ("bot", "cogs") for p in (REPO / root).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in imports_of(path) if m in modules and m != name}
        graph[name] |= (
            {"discord"} if any(m == "discord" or m.startswith("discord.") for m in imports_of(path)) else set()
        )
    return graph


def test_the_core_imports_nothing_of_discord_even_indirectly():
    graph = project_modules()
    core = [name for name in graph if not name.startswith(DISCORD_SIDE)]
    assert "bot.jobs.runner" in core and "bot.store.postgres" in core and "bot.cli" in core

    def reaches_discord(name: str, seen: set[str]) -> list[str] | None:
        for target in sorted(graph.get(name, ())):
            if target == "discord" or target.startswith(DISCORD_SIDE):
                return [name, target]
            if target not in seen:
                seen.add(target)
                if (path := reaches_discord(target, seen)) is not None:
                    return [name, *path]
        return None

    offenders = {name: path for name in core if (path := reaches_discord(name, set()))}
    assert not offenders, offenders


def test_no_module_imports_itself_in_a_circle():
    graph = project_modules()
    circles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def walk(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph.get(name, ())):
            if target == "discord":
                continue
            if state.get(target) == 1:
                circles.append(path[path.index(target) :] + [target])
            elif target not in state:
                walk(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])
    assert not circles, circles


def test_the_bot_class_is_assembled_in_one_place_and_imported_by_nobody_else():
    importers = {
        name
        for name, targets in project_modules().items()
        if any(t.startswith("bot.discord_app.client") for t in targets)
    }
    assert importers == {"bot.discord_app.run"}
