# Sourced by scripts/serve and scripts/test: make .venv and install the project into it.
# Safe to re-run: it reinstalls only when a pyproject.toml changed (or the venv is missing).
# Usage: ensure_venv EXTRAS   (EXTRAS: "" for the server, "dev" for tests and tools)
#
# Two distributions live here: configd-client (clients/python: the SDK, its wire module and
# configctl) and configd (the server, which depends on configd-client of the same version).
# The client is installed from its folder by path *before* the server, so that pip finds the
# requirement `configd-client==X` already satisfied and never looks the name up in a package
# registry, where it is not ours.
ensure_venv() {
    local extras="$1" python="${PYTHON:-python3}"
    if [ ! -x .venv/bin/python ]; then
        "$python" -m venv .venv
    fi
    local hash
    hash="$(cat pyproject.toml clients/python/pyproject.toml | sha256sum | cut -c1-16)"
    local stamp=".venv/.installed-${hash}-${extras:-base}"
    if [ ! -f "$stamp" ]; then
        local pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
        "${pip[@]}" --upgrade pip
        "${pip[@]}" -e "./clients/python[cli]"
        if [ -n "$extras" ]; then
            "${pip[@]}" -e ".[$extras]"
        else
            "${pip[@]}" -e .
        fi
        rm -f .venv/.installed-*
        touch "$stamp"
    fi
}
