"""List the licenses of everything configd ships and fail on a copyleft (GPL, LGPL, AGPL) one.

One exception, listed apart: the opt-in `configd[postgresql]` extra (the PostgreSQL backend's
driver, psycopg 3, which the backend issue names) is LGPL-3.0. It is never installed by
default (`pip install .` and the quick start's server have none of it); installed, it is a
separate distribution imported unmodified, which the LGPL permits without covering configd.
Opt-in packages may be LGPL; GPL and AGPL stay forbidden there too.

    python scripts/check_licenses.py            # table of shipped packages, exit 1 on copyleft
    python scripts/check_licenses.py --all      # also the npm build tools (not shipped)

Shipped means: the npm packages bundled into the console (production dependencies in
clients/web/package-lock.json, dev tools excluded) and the Python packages that
`pip install './clients/python[cli]' .` pulls in: the closure of the runtime dependencies of both
distributions (configd-client with its [cli] extra, and the server), read from installed metadata.
The lockfile records each package's license, so no node_modules is needed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
LOCKFILE = ROOT / "clients" / "web" / "package-lock.json"
# The server's and the SDK's distributions, with the extras that ship (configctl is [cli]).
PYPROJECTS = (
    (ROOT / "pyproject.toml", ""),
    (ROOT / "clients" / "python" / "pyproject.toml", "cli"),
)

# Extras a user installs on purpose, each for one backend (see the module docstring).
OPT_IN = ((ROOT / "pyproject.toml", "postgresql"),)

FORBIDDEN = re.compile(r"\b(?:A|L)?GPL|GNU (?:Affero |Lesser |Library )?General Public", re.I)
# In an opt-in extra: the LGPL is allowed, the GPL and AGPL are not.
FORBIDDEN_OPT_IN = re.compile(r"\b(?<!L)A?GPL|GNU (?:Affero )?General Public", re.I)


@dataclass(frozen=True, slots=True)
class Package:
    ecosystem: str
    name: str
    version: str
    license: str
    shipped: bool
    opt_in: bool = False

    @property
    def forbidden(self) -> bool:
        return bool((FORBIDDEN_OPT_IN if self.opt_in else FORBIDDEN).search(self.license))


def npm_packages(lockfile: Path = LOCKFILE) -> list[Package]:
    lock = json.loads(lockfile.read_text())
    out = []
    for path, info in lock.get("packages", {}).items():
        if not path:  # the console itself
            continue
        name = path.rsplit("node_modules/", 1)[-1]
        license_ = info.get("license") or "UNKNOWN"
        if isinstance(license_, dict):
            license_ = license_.get("type", "UNKNOWN")
        out.append(
            Package("npm", name, info.get("version", "?"), str(license_), not info.get("dev"))
        )
    return sorted(out, key=lambda p: p.name)


def _field(dist: metadata.Distribution, name: str) -> str:
    values = dist.metadata.get_all(name) or []
    return str(values[0]) if values else ""


def _python_license(dist: metadata.Distribution) -> str:
    expression = _field(dist, "License-Expression")
    if expression:
        return expression
    classifiers = [
        c.split(" :: ")[-1]
        for c in dist.metadata.get_all("Classifier") or []
        if c.startswith("License ::")
    ]
    classifiers = [c for c in classifiers if c != "OSI Approved"]
    if classifiers:
        return " AND ".join(sorted(set(classifiers)))
    text = _field(dist, "License").strip()
    # Some projects put the whole license text here: keep its first line.
    return text.splitlines()[0][:60] if text else "UNKNOWN"


def _requirements(pyproject: Path, extra: str, *, base: bool) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = [*project["dependencies"]] if base else []
    if extra:
        requirements += project["optional-dependencies"][extra]
    return requirements


def python_packages() -> list[Package]:
    """The installed closure of both distributions' runtime dependencies and shipped extras,
    then what the opt-in extras add (marked opt_in)."""
    shipped = _closure([r for p, e in PYPROJECTS for r in _requirements(p, e, base=True)])
    opt_in = _closure([r for p, e in OPT_IN for r in _requirements(p, e, base=False)])
    added = [
        Package(p.ecosystem, p.name, p.version, p.license, True, opt_in=True)
        for key, p in opt_in.items()
        if key not in shipped
    ]
    return sorted([*shipped.values(), *added], key=lambda p: (p.opt_in, p.name.lower()))


def _closure(requirements: list[str]) -> dict[str, Package]:
    pending = [(Requirement(r), "") for r in requirements]
    seen: dict[str, Package] = {}
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        key = requirement.name.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            seen[key] = Package("pypi", requirement.name, "not installed", "UNKNOWN", True)
            continue
        seen[key] = Package(
            "pypi", dist.metadata["Name"], dist.version, _python_license(dist), True
        )
        wanted = requirement.extras or {""}
        pending += [(Requirement(r), e) for r in dist.requires or [] for e in wanted]
    return seen


def check(include_tools: bool = False) -> tuple[list[Package], list[Package]]:
    """(listed packages, forbidden ones)."""
    packages = [p for p in npm_packages() if p.shipped or include_tools] + python_packages()
    return packages, [p for p in packages if p.forbidden]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--all", action="store_true", help="also list npm build tools")
    args = parser.parse_args()
    packages, forbidden = check(include_tools=args.all)
    width = max(len(p.name) for p in packages)
    for p in packages:
        mark = "FORBIDDEN " if p.forbidden else ""
        role = "opt-in" if p.opt_in else "shipped" if p.shipped else "build tool"
        print(f"{p.ecosystem:4} {p.name:{width}} {p.version:12} {role:10} {mark}{p.license}")
    if forbidden:
        print(
            f"\n{len(forbidden)} package(s) under GPL/LGPL/AGPL: "
            + ", ".join(f"{p.name} ({p.license})" for p in forbidden)
        )
        return 1
    opt_in = [p for p in packages if p.opt_in]
    print(f"\n{len(packages) - len(opt_in)} packages, none under GPL/LGPL/AGPL")
    if opt_in:
        print(
            f"opt-in extra {', '.join(e for _, e in OPT_IN)}: {len(opt_in)} more, none under "
            "GPL/AGPL (LGPL allowed: separately installed, imported unmodified)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
