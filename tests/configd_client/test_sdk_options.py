"""ClientOptions: one definition of the clients' options, taken by both clients alike."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from configd_client import AsyncConfigClient, ClientOptions, ConfigClient, ConnectOptions

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess
    from tests.configd_client.conftest import Writer


def test_both_clients_take_the_same_parameters() -> None:
    async_params = inspect.signature(AsyncConfigClient.__init__).parameters
    sync_params = inspect.signature(ConfigClient.__init__).parameters
    assert (
        list(async_params)
        == list(sync_params)
        == [
            "self",
            "namespaces",
            "prefixes",
            "options",
            "kwargs",
        ]
    )


@pytest.mark.parametrize("client_class", [AsyncConfigClient, ConfigClient])
def test_an_unknown_option_is_a_type_error_naming_it(
    client_class: type[AsyncConfigClient] | type[ConfigClient],
) -> None:
    with pytest.raises(TypeError) as caught:
        client_class("a/b", cache_pth="/tmp/x")
    assert str(caught.value) == (
        "configd: unknown client option 'cache_pth'; the options are addr, backoff_initial, "
        "backoff_max, cache_path, client_id, connect, idle_timeout, labels, logger, min_revision, "
        "missing, schemas, start_timeout, tls, token"
    )


def test_keywords_build_the_options_and_override_an_options_object(tmp_path: Path) -> None:
    base = ClientOptions(addr="127.0.0.1:1", start_timeout=3.0)
    client = ConfigClient("a/b", options=base, cache_path=tmp_path / "c.json")
    assert client.options == dataclasses.replace(base, cache_path=tmp_path / "c.json")
    assert ConfigClient("a/b", idle_timeout=9.0).options == ClientOptions(idle_timeout=9.0)
    assert AsyncConfigClient("a/b", options=base).options is base


def test_connect_and_addr_together_are_refused() -> None:
    with pytest.raises(ValueError, match="pass either connect= or addr/token/tls, not both"):
        ClientOptions(connect=ConnectOptions(addr="127.0.0.1:1"), addr="127.0.0.1:2")


def test_one_options_object_serves_both_clients(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    writer.create(ns)
    revision = writer.put(ns, "port", 8080)
    options = ClientOptions(addr=shared_server.grpc_addr, start_timeout=30.0)
    with ConfigClient(ns, options=options) as config:
        assert config.wait_for_revision(revision, timeout=30) >= revision
        assert config.get("port") == 8080

    async def read() -> object:
        async with AsyncConfigClient(ns, options=options) as client:
            await client.wait_for_revision(revision, timeout=30)
            return client.get("port")

    assert asyncio.run(read()) == 8080


def test_labels_come_from_the_options_and_configd_labels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONFIGD_LABELS", "zone=eu-west-1, version=2.3.1")
    client_id, labels = ClientOptions(labels={"zone": "us"}, client_id="pod-7").identity()
    assert client_id == "pod-7"
    assert labels == {"zone": "us", "version": "2.3.1"}  # the explicit label wins
    monkeypatch.delenv("CONFIGD_LABELS")
    default_id, none = ClientOptions().identity()
    assert none == {}
    assert default_id.count("-") >= 2  # host-pid-random
    assert default_id != ClientOptions().identity()[0]  # a fresh suffix per client


@pytest.mark.parametrize(
    ("env", "words"),
    [("zone", "not label=value"), ("Zone=eu", "label name"), ("a=1,a=2", "given twice")],
)
def test_a_malformed_configd_labels_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, words: str
) -> None:
    monkeypatch.setenv("CONFIGD_LABELS", env)
    with pytest.raises(ValueError, match="CONFIGD_LABELS") as caught:
        ClientOptions().identity()
    assert words in str(caught.value)


def test_bad_labels_and_client_ids_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="label name"):
        ClientOptions(labels={"Bad Key": "x"})
    with pytest.raises(ValueError, match="client_id"):
        ClientOptions(client_id="has space")
