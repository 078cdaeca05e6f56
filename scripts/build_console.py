"""Build the web console (clients/web) into the Python package (configd/http/console/static).

    python scripts/build_console.py          # npm ci if needed, codegen, typecheck, bundle
    python scripts/build_console.py --check  # exit 1 if committed code or bundle is stale

The bundle is committed so that running configd never needs npm; only this script does.
esbuild's output is deterministic for a pinned version and the same sources, so `--check`
rebuilds into a temporary directory and compares byte for byte. The protobuf code for the
browser (clients/web/src/gen) is generated with protoc-gen-es through grpc_tools' protoc.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "clients" / "web"
GEN_DIR = WEB / "src" / "gen"
STATIC_SRC = WEB / "static"
OUT_DIR = ROOT / "configd" / "http" / "console" / "static"
PROTO_DIR = ROOT / "protos"
# Browser code decodes google.rpc error details (BadRequest field violations) too.
PROTOS = [
    "configd/v1/config.proto",
    "configd/v1/admin.proto",
    "configd/v1/release.proto",
    "google/rpc/status.proto",
    "google/rpc/error_details.proto",
]
BUNDLE = "console.js"
LICENSES_FILE = "THIRD_PARTY_LICENSES.txt"


def run(args: list[str], cwd: Path = WEB) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, cwd=cwd, check=True)


def ensure_node_modules() -> None:
    """`npm ci` when node_modules is missing or older than the lockfile."""
    marker = WEB / "node_modules" / ".package-lock.json"
    lock = WEB / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed to build the console (apt-get install nodejs npm)")
    run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"])


def googleapis_proto_root() -> Path:
    from google.rpc import status_pb2

    return Path(status_pb2.__file__).resolve().parent.parent.parent


def generate(out_dir: Path) -> None:
    """TypeScript message and service descriptors for the browser (protoc-gen-es)."""
    from grpc_tools import protoc

    out_dir.mkdir(parents=True, exist_ok=True)
    plugin = WEB / "node_modules" / ".bin" / "protoc-gen-es"
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{googleapis_proto_root()}",
        f"-I{resources.files('grpc_tools') / '_proto'}",
        f"--plugin=protoc-gen-es={plugin}",
        f"--es_out={out_dir}",
        "--es_opt=target=ts,import_extension=none",
        *PROTOS,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc (protoc-gen-es) failed")


def typecheck() -> None:
    run([str(WEB / "node_modules" / ".bin" / "tsc"), "--noEmit", "-p", str(WEB)])


def bundle(out_dir: Path) -> None:
    """console.js (minified ESM), index.html, console.css and the shipped packages' licenses."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        metafile = Path(tmp) / "meta.json"
        run(
            [
                str(WEB / "node_modules" / ".bin" / "esbuild"),
                "src/main.ts",
                "--bundle",
                "--minify",
                "--format=esm",
                "--target=es2020",
                "--charset=utf8",
                "--legal-comments=none",
                "--log-level=warning",
                f"--metafile={metafile}",
                f"--outfile={out_dir / BUNDLE}",
            ]
        )
        packages = shipped_packages(json.loads(metafile.read_text()))
    (out_dir / LICENSES_FILE).write_text(third_party_licenses(packages))
    for name in ("index.html", "console.css"):
        shutil.copyfile(STATIC_SRC / name, out_dir / name)


def shipped_packages(meta: dict[str, object]) -> list[str]:
    """The npm packages with code in the bundle, from esbuild's metafile inputs."""
    inputs = meta.get("inputs", {})
    assert isinstance(inputs, dict)
    names: set[str] = set()
    for path in inputs:
        parts = Path(path).parts
        if "node_modules" not in parts:
            continue
        rest = parts[len(parts) - parts[::-1].index("node_modules") :]
        names.add("/".join(rest[:2]) if rest[0].startswith("@") else rest[0])
    return sorted(names)


def third_party_licenses(packages: list[str]) -> str:
    chunks = [
        "Third-party code bundled in console.js, with its licenses.\n",
    ]
    for name in packages:
        pkg_dir = WEB / "node_modules" / name
        manifest = json.loads((pkg_dir / "package.json").read_text())
        repository = manifest.get("repository", "")
        if isinstance(repository, dict):
            repository = repository.get("url", "")
        chunks.append(
            f"\n{'=' * 78}\n{name} {manifest['version']}\nlicense: {manifest['license']}\n"
            f"source: {repository or manifest.get('homepage', '')}\n"
        )
        for candidate in sorted(pkg_dir.iterdir()):
            if candidate.name.upper().startswith(("LICENSE", "LICENCE", "NOTICE")):
                chunks.append(f"--- {candidate.name}\n{candidate.read_text().rstrip()}\n")
    return "".join(chunks)


def differences(fresh: Path, committed: Path) -> list[str]:
    def files(root: Path) -> set[Path]:
        return {p.relative_to(root) for p in root.rglob("*") if p.is_file()}

    fresh_files, committed_files = files(fresh), files(committed)
    diffs = [f"missing: {p}" for p in sorted(fresh_files - committed_files)]
    diffs += [f"unexpected: {p}" for p in sorted(committed_files - fresh_files)]
    diffs += [
        f"differs: {p}"
        for p in sorted(fresh_files & committed_files)
        if not filecmp.cmp(fresh / p, committed / p, shallow=False)
    ]
    return diffs


def check() -> int:
    ensure_node_modules()
    with tempfile.TemporaryDirectory() as tmp:
        fresh_gen = Path(tmp) / "gen"
        generate(fresh_gen)
        stale = [f"{GEN_DIR.relative_to(ROOT)}: {d}" for d in differences(fresh_gen, GEN_DIR)]
        typecheck()
        fresh_out = Path(tmp) / "static"
        bundle(fresh_out)
        stale += [f"{OUT_DIR.relative_to(ROOT)}: {d}" for d in differences(fresh_out, OUT_DIR)]
    if stale:
        print("the console bundle is stale: run python scripts/build_console.py")
        print("\n".join(stale))
        return 1
    print("console sources, generated code and bundle are up to date")
    return 0


def build() -> int:
    ensure_node_modules()
    shutil.rmtree(GEN_DIR, ignore_errors=True)
    generate(GEN_DIR)
    typecheck()
    shutil.rmtree(OUT_DIR, ignore_errors=True)
    bundle(OUT_DIR)
    size = (OUT_DIR / BUNDLE).stat().st_size
    print(f"built {OUT_DIR.relative_to(ROOT)} ({BUNDLE}: {size} bytes)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the bundle is stale")
    args = parser.parse_args()
    return check() if args.check else build()


if __name__ == "__main__":
    sys.exit(main())
