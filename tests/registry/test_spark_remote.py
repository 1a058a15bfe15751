"""``SPARK_REMOTE`` parsing and the reachability probe: no Spark needed, and never the URL's
parameters (a Databricks URL carries a token) in a message."""

from __future__ import annotations

import socket

import pytest

from govern.errors import DataError, UsageError
from govern.registry.spark_session import connect_endpoint, reachable


def test_host_and_port_come_from_the_url_and_never_its_parameters() -> None:
    assert connect_endpoint("sc://connect.example:443/;token=abc;use_ssl=true") == (
        "connect.example",
        443,
    )
    assert connect_endpoint("sc://127.0.0.1") == ("127.0.0.1", 15002)  # Spark's default port
    assert connect_endpoint("sc://[::1]:15003") == ("::1", 15003)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://host:15002", "SPARK_REMOTE: expected a Spark Connect URL, sc://host:port"),
        ("sc://host:port", "SPARK_REMOTE: port 'port' is not a number"),
        ("sc://:15002", "SPARK_REMOTE: the URL names no host (sc://host:port)"),
    ],
)
def test_a_malformed_url_is_a_usage_error(url: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        connect_endpoint(url)
    assert str(caught.value) == message


def test_a_closed_port_is_named_at_once_without_the_token() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(DataError) as caught:
            reachable(f"sc://127.0.0.1:{port}/;token=sekrit", seconds=5)
    text = str(caught.value)
    assert text.startswith(f"cannot reach the Spark Connect server at 127.0.0.1:{port} (")
    assert "sekrit" not in text


def test_a_listening_port_is_reachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        reachable(f"sc://127.0.0.1:{s.getsockname()[1]}", seconds=5)
