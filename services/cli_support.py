"""Settings and system for command-line use."""

from __future__ import annotations

import json
import os
from pathlib import Path

from shared.settings import Settings, development_settings


def load_settings(data_dir: Path | None = None) -> Settings:
    """Settings for a command; a running `ecm up` in the same data folder supplies its NATS URL."""
    settings = _load(data_dir)
    run_file = settings.data_path / "run.json"
    if settings.nats_url is None and run_file.exists():
        running = json.loads(run_file.read_text())
        settings = settings.model_copy(update={"nats_url": running["nats_url"]})
    return settings


def _load(data_dir: Path | None) -> Settings:
    """Settings from the environment; dev mode when `ecm up` generated secrets in the data folder.

    Outside dev mode (ECM_SECRET_KEY / ECM_MASTER_KEY set, or ECM_DEV_MODE=false) the
    environment alone is used and placeholder secrets are refused.
    """
    folder = data_dir or Path(os.environ.get("ECM_DATA_DIR", "var"))
    explicit = os.environ.get("ECM_DEV_MODE")
    if explicit is not None and explicit.lower() in ("0", "false", "no"):
        return Settings(data_dir=folder)
    if os.environ.get("ECM_MASTER_KEY") and explicit is None:
        return Settings(data_dir=folder)
    if (explicit is not None and explicit.lower() in ("1", "true", "yes")) or (
        folder / "secrets"
    ).exists():
        return development_settings(folder)
    return Settings(data_dir=folder)
