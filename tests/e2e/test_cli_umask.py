"""The `ecm` command creates nothing that its group or other users could read."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path


def ecm(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed `ecm` entry point as an operator would, on `data`."""
    script = Path(sys.executable).with_name("ecm")
    env = {**os.environ, "ECM_DATA_DIR": str(data), "ECM_DEV_MODE": "true"}
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_every_file_and_folder_the_command_creates_is_the_owners_alone(tmp_path: Path) -> None:
    data = tmp_path / "var"
    previous = os.umask(0o002)  # a permissive shell: the command must not inherit it
    try:
        result = ecm("tick", data=data)
    finally:
        os.umask(previous)
    assert result.returncode == 0, result.stdout + result.stderr
    created = [data, *data.rglob("*")]
    assert any(p.suffix == ".sqlite" for p in created)
    for path in created:
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode & 0o077 == 0, f"{path.relative_to(tmp_path)}: {oct(mode)}"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
