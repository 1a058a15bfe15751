"""YAML as a policy reads it: safe, strict and YAML 1.2 booleans.

``yaml.safe_load`` alone resolves duplicate keys silently and reads ``yes`` as ``True``; a policy
that silently means something else than it says would turn a typo into a pass.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import yaml

from govern.config.fields import error


class _StrictLoader(yaml.SafeLoader):
    """safe_load that also rejects duplicate keys, which plain YAML silently resolves.

    Booleans follow YAML 1.2 (``true``/``false`` only): under YAML 1.1 ``positive_label: yes`` would
    silently become ``True`` and never equal the label value ``"yes"``.
    """


_BOOL_TAG = "tag:yaml.org,2002:bool"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    keys: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue  # ``<<: *defaults``: keys written here override merged ones, as YAML says
        key = loader.construct_object(key_node, deep=deep)
        try:
            seen = key in keys
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be text, not a list or mapping", key_node.start_mark
            ) from None
        if seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        keys.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path, what: str) -> tuple[Any, str, str]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} {path}: file not found") from None
    except OSError as exc:
        raise error(f"{what} {path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{what} {path}: not UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["unreadable"])[0]
        tag = re.match(r"could not determine a constructor for the tag '([^']*)'", problem)
        if tag:
            shown = re.sub(r"^tag:yaml\.org,2002:", "!!", tag.group(1))
            problem = f"tag '{shown}' is not allowed (a policy is plain data)"
        problem = " ".join(problem.split())
        raise error(f"{what} {path}: invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise error(f"{what} {path}: invalid YAML: nested too deeply") from None
    return data, text, hashlib.sha256(raw).hexdigest()
