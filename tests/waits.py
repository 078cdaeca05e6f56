"""The bound of the read-your-writes server fixture (`short_wait_server` in conftest.py)."""

MIN_REVISION_WAIT = 3.0  # its --min-revision-wait, seconds
