"""configd.storage.open: the SQLite default never needs the PostgreSQL driver, which is the
opt-in configd[postgresql] extra; asking for PostgreSQL without it says how to install it."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_without_psycopg(code: str) -> subprocess.CompletedProcess[str]:
    # A None entry in sys.modules makes every `import psycopg` fail, as on an install
    # without the extra.
    prelude = "import sys\nsys.modules['psycopg'] = None\nsys.modules['psycopg_pool'] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_server_and_its_sqlite_backend_load_without_the_postgresql_driver() -> None:
    done = run_without_psycopg(
        """
        import tempfile
        from pathlib import Path
        import configd.server.app, configd.server.cli
        from configd.storage.open import open_backend
        backend = open_backend(None, Path(tempfile.mkdtemp()))
        print(backend.name)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "sqlite"


def test_postgresql_without_its_driver_says_which_extra_to_install() -> None:
    done = run_without_psycopg(
        """
        from pathlib import Path
        from configd.core.errors import InvalidArgument
        from configd.storage.open import open_backend
        try:
            open_backend("postgresql://db/configd", Path("."))
        except InvalidArgument as exc:
            print(exc.detail)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'configd[postgresql]'" in done.stdout
    assert "--store" in done.stdout
