"""The committed gRPC stubs in `proto/` are exactly what grpc_tools.protoc makes of the .proto files.

A .proto edited without regenerating would leave servers and clients on different contracts
while every import still works.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROTOS = sorted((REPO / "proto").glob("*.proto"))
STUB_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def _protoc_args(out: str, proto: str) -> list[str]:
    return [
        "-m",
        "grpc_tools.protoc",
        "-I.",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        proto,
    ]


def _regenerate_command(proto: Path) -> str:
    # Written into proto/ beside the source: that is where the imports expect them.
    return ".venv/bin/python " + " ".join(_protoc_args(".", f"proto/{proto.name}"))


def test_there_are_protos_to_check() -> None:
    assert PROTOS, "no proto/*.proto found"


@pytest.mark.parametrize("proto", PROTOS, ids=lambda p: p.name)
def test_committed_stubs_match_protoc_output(proto: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, *_protoc_args(str(tmp_path), f"proto/{proto.name}")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"protoc failed on {proto.name}: {result.stderr}"
    stale = []
    for suffix in STUB_SUFFIXES:
        name = proto.stem + suffix
        fresh = tmp_path / "proto" / name
        committed = REPO / "proto" / name
        assert fresh.exists(), f"protoc wrote no {name}"
        if not committed.exists() or committed.read_bytes() != fresh.read_bytes():
            stale.append(name)
    assert not stale, (
        f"stale gRPC stubs {stale}; run from the repo root: {_regenerate_command(proto)}"
    )
