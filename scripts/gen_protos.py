"""Generate the protobuf/gRPC Python code from protos/ into the SDK package.

    python scripts/gen_protos.py          # regenerate
    python scripts/gen_protos.py --check  # exit 1 if the committed code is stale

The code lives in configd_client.wire.proto (re-exported by configd_client.wire) so that
both the server and the SDK import it without the SDK importing the server. protoc names
modules after the .proto path (`configd.v1`), which would collide with the server package,
so imports are re-rooted.

The `.pyi` stubs of the messages come from protoc itself (`--pyi_out`); those of the gRPC
stubs and servicers (`*_pb2_grpc.pyi`) from mypy-protobuf's `protoc-gen-mypy_grpc`, pinned in
the dev extra like grpcio-tools, since both shape the committed files.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"
OUT_DIR = ROOT / "clients" / "python" / "configd_client" / "wire" / "proto"
PACKAGE = "configd_client.wire.proto"


def _mypy_grpc_plugin() -> Path:
    # Installed next to the interpreter that runs this script (the venv's bin/).
    plugin = Path(sys.executable).parent / "protoc-gen-mypy_grpc"
    if not plugin.is_file():
        raise SystemExit(f"{plugin} is missing: install the dev extra (mypy-protobuf)")
    return plugin


def generate(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--plugin=protoc-gen-mypy_grpc={_mypy_grpc_plugin()}",
        f"--mypy_grpc_out=quiet:{out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for path in out_dir.rglob("*.py*"):
        text = path.read_text()
        text = text.replace("from configd.v1 import", f"from {PACKAGE}.configd.v1 import")
        path.write_text(text)
    for directory in [out_dir, *(p for p in out_dir.rglob("*") if p.is_dir())]:
        (directory / "__init__.py").touch()


def is_stale() -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "proto"
        generate(fresh)
        fresh_files = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
        committed = {
            p.relative_to(OUT_DIR)
            for p in OUT_DIR.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        if fresh_files != committed:
            return True
        return any(not filecmp.cmp(fresh / f, OUT_DIR / f, shallow=False) for f in fresh_files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if generated code is stale")
    args = parser.parse_args()
    if args.check:
        if is_stale():
            print("generated protobuf code is stale: run python scripts/gen_protos.py")
            return 1
        print("generated protobuf code is up to date")
        return 0
    shutil.rmtree(OUT_DIR, ignore_errors=True)
    generate(OUT_DIR)
    print(f"generated {OUT_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
