"""Opening a registry changes nothing global: the tracking URI is passed, never installed."""

from __future__ import annotations

import os

import mlflow
import pytest

from govern.errors import UsageError
from govern.registry.client import Registry


def test_registry_leaves_mlflow_and_the_environment_as_they_were(sqlite_uri: str) -> None:
    before_uri = mlflow.get_tracking_uri()
    before_registry = mlflow.get_registry_uri()
    before_env = dict(os.environ)
    registry = Registry(sqlite_uri)
    registry.ping()
    assert registry.uri == sqlite_uri
    assert mlflow.get_tracking_uri() == before_uri != sqlite_uri
    assert mlflow.get_registry_uri() == before_registry
    assert dict(os.environ) == before_env


def test_a_registry_needs_a_uri() -> None:
    with pytest.raises(UsageError, match="no tracking URI"):
        Registry("")
