"""govern serve against a real mlflow server that delivers real signed webhooks.

Each audit here is a real one (lineage, GX, fairlearn, a prediction in a sandboxed child), a few
seconds each, so the cases are few: a new version audited and a protected alias moved back with
an incident; a replayed delivery; kill -9 with work queued; the registry down while events
arrive.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from conftest import _free_port, start_server, stop_server
from events_conftest_helpers import *  # noqa: F403
from helpers import register, run_cli, write_policy
from mlflow.tracking import MlflowClient
