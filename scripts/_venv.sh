# Sourced by scripts/serve and scripts/test: make .venv and install the project into it.
# Safe to re-run: it reinstalls only when pyproject.toml changed (or the venv is missing).
# Usage: ensure_venv EXTRAS   (EXTRAS: "" for the server, "dev" for tests and tools)
ensure_venv() {
    local extras="$1" python="${PYTHON:-python3}"
    if [ ! -x .venv/bin/python ]; then
        "$python" -m venv .venv
    fi
    local stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-${extras:-base}"
    if [ ! -f "$stamp" ]; then
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
        if [ -n "$extras" ]; then
            .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
        else
            .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
        fi
        rm -f .venv/.installed-*
        touch "$stamp"
    fi
}
