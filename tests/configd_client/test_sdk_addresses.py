"""Addresses: one replica, a comma list of replicas, or one gRPC target; a malformed one is a
ValueError saying what is wrong, when the options are made (before any connection)."""

from __future__ import annotations

import re

import pytest

from configd_client import ClientOptions, ConnectOptions


@pytest.mark.parametrize(
    ("addr", "targets"),
    [
        ("127.0.0.1:7700", ("127.0.0.1:7700",)),
        ("h1:7700, h2:7701,h3:7702", ("h1:7700", "h2:7701", "h3:7702")),
        ("[::1]:7700,localhost:7700", ("[::1]:7700", "localhost:7700")),
        ("dns:///configd.internal:7700", ("dns:///configd.internal:7700",)),
        ("ipv4:10.0.0.1:7700,10.0.0.2:7700", ("ipv4:10.0.0.1:7700,10.0.0.2:7700",)),
        ("unix:/run/configd.sock", ("unix:/run/configd.sock",)),
    ],
)
def test_addresses_name_their_replicas(addr: str, targets: tuple[str, ...]) -> None:
    assert ConnectOptions(addr=addr).targets == targets


@pytest.mark.parametrize(
    ("addr", "message"),
    [
        ("", "configd: addr is empty; give host:port, or several as h1:port,h2:port"),
        (
            "h1:7700,,h2:7700",
            "configd: addr 'h1:7700,,h2:7700' has an empty entry; separate replicas with single "
            "commas, e.g. h1:7700,h2:7700",
        ),
        (
            "h1:7700,h2",
            "configd: address 'h2' in addr 'h1:7700,h2' needs a port: host:port "
            "([addr]:port for IPv6)",
        ),
        (
            "::1:7700",
            "configd: address '::1:7700' in addr '::1:7700' needs a port: host:port "
            "([addr]:port for IPv6)",
        ),
        (
            "h1:77000",
            "configd: address 'h1:77000' in addr 'h1:77000' has port '77000'; a port is 1-65535",
        ),
        ("h 1:7700", "configd: address 'h 1:7700' in addr 'h 1:7700' has a malformed host"),
        ("h1:7700,h1:7700", "configd: addr 'h1:7700,h1:7700' names h1:7700 twice"),
    ],
)
def test_a_malformed_address_is_a_value_error(addr: str, message: str) -> None:
    exactly = f"^{re.escape(message)}$"
    with pytest.raises(ValueError, match=exactly):
        ConnectOptions(addr=addr)
    if addr:  # an empty addr in ClientOptions means the default (CONFIGD_ADDR)
        with pytest.raises(ValueError, match=exactly):
            ClientOptions(addr=addr)


def test_configd_addr_may_list_replicas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFIGD_ADDR", "h1:7700,h2:7700")
    assert ConnectOptions.from_env().targets == ("h1:7700", "h2:7700")
