"""One exception family, caught once in the CLI.

Each subclass carries the exit code the CLI maps it to, so library code never decides how a
process ends and the mapping lives in one place.
"""

from __future__ import annotations

EXIT_PASS = 0
EXIT_VIOLATION = 1
EXIT_USAGE = 2
EXIT_INFRA = 3
"""Could not audit: someone must fix something (lineage, data, the model, an internal error)."""
EXIT_RETRY = 4
"""The registry was unreachable or the deadline passed: the same run later may well succeed."""


class GovernError(Exception):
    """Base of every error govern reports to a user as one line."""

    exit_code = EXIT_INFRA


class UsageError(GovernError):
    """The command line asked for something that cannot be done (bad selector, bad alias)."""

    exit_code = EXIT_USAGE


class PolicyError(GovernError):
    """The policy file or a check pack is malformed; nothing is audited against it."""

    exit_code = EXIT_USAGE


class RegistryError(GovernError):
    """The registry could not be read or written, or a model or version does not exist."""

    exit_code = EXIT_INFRA


class RegistryUnavailable(RegistryError):
    """The registry did not answer (refused, timed out, kept failing with 5xx): retry later."""

    exit_code = EXIT_RETRY


class NotFoundError(RegistryError):
    """A model, version or alias named by the user does not exist."""

    exit_code = EXIT_USAGE


class LineageError(GovernError):
    """The training data of a version could not be identified from MLflow's lineage."""

    exit_code = EXIT_INFRA


class DataError(GovernError):
    """The training data could not be loaded or is unusable for the checks."""

    exit_code = EXIT_INFRA


class OutOfMemory(DataError):
    """A step ran out of memory: the training data in pandas, the model's prediction process,
    or a Spark JVM. Could not audit (exit 3); the message names what ran out and the setting
    that gives it more, because rerunning unchanged would fail the same way."""

    exit_code = EXIT_INFRA


class OutputError(GovernError):
    """A report or results file could not be written."""

    exit_code = EXIT_INFRA


class SigningKeyError(GovernError):
    """A key file is missing, unreadable or not a key govern can use: fix the option or file."""

    exit_code = EXIT_USAGE


class NotVerified(GovernError):
    """Evidence that does not verify: tampered, forged, unsigned where signatures are required,
    or no longer matching the model or data it names. A violation, not a crash."""

    exit_code = EXIT_VIOLATION


class ReviewRefused(GovernError):
    """A sign-off govern will not record: approving an audit that did not pass, or reviewing
    an audit whose record does not verify. A refusal on the merits, like a violation."""

    exit_code = EXIT_VIOLATION


class WebhookRefused(GovernError):
    """The MLflow server refuses govern's webhook as configured (the URL's scheme, a private
    address, a missing encryption key), or the receiver refuses the signature: a setting to
    fix, which a retry will not change."""

    exit_code = EXIT_USAGE


class WebhookUndelivered(GovernError):
    """MLflow's test delivery did not reach a receiver that answered: govern serve is down or
    unreachable from the MLflow server. The webhook is installed; a later test may succeed."""

    exit_code = EXIT_RETRY
