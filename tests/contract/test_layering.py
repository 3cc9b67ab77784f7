"""The core library imports none of its users: edges, workers and the composition root
import the core, never the other way round."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
USERS = {"app", "edge", "workers"}


def test_core_imports_no_edge_worker_or_composition_root() -> None:
    offenders = []
    for path in sorted((REPO / "oncallnova").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in USERS:
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} imports {name}")
    assert offenders == []
