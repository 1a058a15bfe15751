"""The policy file and check packs: parsed strictly, validated whole, before any check runs.

A policy is a contract users write against, so every key is declared here and anything else is
rejected with the file and key named. Great Expectations silently drops a malformed expectation;
that would turn a typo into a pass, so each expectation is validated against GX on load.

A pack is named after its file (``name``, if given, must equal the file name without ``.yaml``);
within one policy a pack name stands for one file, a user's pack cannot take a built-in's name, and
an entry lists a pack at most once: reports and ``packs_sha256`` identify packs by name alone.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from govern.errors import PolicyError
from govern.model.specs import ExpectationSpec, FairnessSpec, Threshold
from govern.resources import checks_dir

POLICY_VERSION = 1
DEFAULT_POLICY_FILE = "govern.yaml"
DEFAULT_AUDIT_EXPERIMENT = "govern-audits"
DEFAULT_MIN_GROUP_SIZE = 30

# Placeholders a pack or policy expectation may use, resolved per model version at audit time.
LABEL = "$label"
SENSITIVE_FEATURES = "$sensitive_features"
ALL_COLUMNS = "$all_columns"
COLUMN = "$column"
_PLACEHOLDERS = (LABEL, SENSITIVE_FEATURES, ALL_COLUMNS, COLUMN)
# Anything shaped like a placeholder is one, so a typo such as ``$lable`` is not a column name.
_PLACEHOLDER_RE = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")

_TOP_KEYS = {"version", "audit_experiment", "models"}
_ENTRY_KEYS = {
    "match",
    "packs",
    "label",
    "positive_label",
    "sensitive_features",
    "dataset",
    "expectations",
    "fairness",
}
_PACK_KEYS = {"name", "description", "source", "expectations", "fairness"}
_EXPECTATION_KEYS = {"type", "kwargs", "for_each_column"}
_FAIRNESS_KEYS = {"min_group_size", "metrics", "thresholds"}
_THRESHOLD_KEYS = {"min", "max"}


@dataclass(frozen=True)
class ExpectationTemplate:
    """An expectation as written, before placeholders are replaced with a version's columns."""

    type: str
    kwargs: Mapping[str, Any]
    for_each_column: tuple[str, ...] | None
    origin: str


@dataclass(frozen=True)
class PartialFairness:
    """Fairness settings as written in one pack or entry; ``None`` means "not said here"."""

    min_group_size: int | None = None
    metrics: tuple[str, ...] = ()
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)


@dataclass(frozen=True)
class Pack:
    """A reusable set of checks: a built-in from ``checks/`` or a user's file."""

    name: str
    description: str
    source: str
    path: str
    sha256: str
    text: str
    expectations: tuple[ExpectationTemplate, ...]
    fairness: PartialFairness


@dataclass(frozen=True)
class ModelPolicy:
    """One ``models`` entry: what applies to every registered model its glob matches."""

    index: int
    match: str
    packs: tuple[Pack, ...]
    label: str | None
    positive_label: Any
    """``None`` when the policy does not say: the value recorded at training, else 1."""
    sensitive_features: tuple[str, ...] | None
    dataset: str | None
    expectations: tuple[ExpectationTemplate, ...]
    fairness: PartialFairness

    def fairness_spec(self) -> FairnessSpec:
        """Merge packs then the entry: later thresholds win, metrics are the union in order."""
        min_group_size: int | None = None
        metrics: list[str] = []
        thresholds: dict[str, Threshold] = {}
        for part in [p.fairness for p in self.packs] + [self.fairness]:
            if part.min_group_size is not None:
                min_group_size = part.min_group_size
            metrics.extend(m for m in part.metrics if m not in metrics)
            thresholds.update(part.thresholds)
        return FairnessSpec(
            min_group_size=DEFAULT_MIN_GROUP_SIZE if min_group_size is None else min_group_size,
            metrics=tuple(metrics),
            thresholds=thresholds,
        )

    def expectation_templates(self) -> tuple[ExpectationTemplate, ...]:
        return tuple(t for p in self.packs for t in p.expectations) + self.expectations


@dataclass(frozen=True)
class Policy:
    path: str
    sha256: str
    text: str
    audit_experiment: str
    entries: tuple[ModelPolicy, ...]

    def for_model(self, name: str) -> ModelPolicy | None:
        """First entry whose glob matches wins; ``None`` means the version fails closed."""
        for entry in self.entries:
            if fnmatch.fnmatchcase(name, entry.match):
                return entry
        return None

    def packs_sha256(self) -> dict[str, str]:
        return {p.name: p.sha256 for e in self.entries for p in e.packs}


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


def _read_yaml(path: Path, what: str) -> tuple[Any, str, str]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _error(f"{what} {path}: file not found") from None
    except OSError as exc:
        raise _error(f"{what} {path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _error(f"{what} {path}: not UTF-8 text") from None
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
        raise _error(f"{what} {path}: invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise _error(f"{what} {path}: invalid YAML: nested too deeply") from None
    return data, text, hashlib.sha256(raw).hexdigest()


class _Where:
    """Builds "file: key.path" prefixes so every message names exactly what is wrong."""

    def __init__(self, file: str, path: str = "") -> None:
        self.file = file
        self.path = path

    def __truediv__(self, key: str | int) -> _Where:
        if isinstance(key, int):
            return _Where(self.file, f"{self.path}[{key}]")
        return _Where(self.file, f"{self.path}.{key}" if self.path else key)

    def error(self, message: str) -> PolicyError:
        at = f": {self.path}" if self.path else ""
        return _error(f"{self.file}{at}: {message}")


def _error(message: str) -> PolicyError:
    """A PolicyError on one line: control characters from keys or values are shown escaped."""
    return PolicyError(re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], message))


def _mapping(value: Any, where: _Where, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise where.error(f"expected a mapping, got {_type_name(value)}")
    for key in value:
        if not isinstance(key, str):
            raise where.error(f"keys must be text, got {key!r}")
    unknown = [key for key in value if key not in allowed]
    if unknown:
        close = _suggest(unknown[0], sorted(allowed)).strip(" ()")
        hint = f"{close}; " if close else ""
        raise where.error(
            f"unknown key '{unknown[0]}' ({hint}allowed: {', '.join(sorted(allowed))})"
        )
    return value


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "a boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _text(value: Any, where: _Where) -> str:
    if isinstance(value, str) and not value.strip():
        raise where.error("expected non-empty text, got an empty string")
    if not isinstance(value, str):
        raise where.error(f"expected non-empty text, got {_type_name(value)}")
    return value


def _text_list(value: Any, where: _Where) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise where.error(f"expected a list of text, got {_type_name(value)}")
    items = tuple(_text(v, where / i) for i, v in enumerate(value))
    for i, item in enumerate(items):
        if item in items[:i]:
            raise (where / i).error(f"'{item}' is listed twice (first at [{items.index(item)}])")
    return items


def _number(value: Any, where: _Where) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise where.error(f"expected a number, got {_type_name(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise where.error(f"expected a finite number, got {value}")
    return number


def _threshold(value: Any, where: _Where) -> Threshold:
    data = _mapping(value, where, _THRESHOLD_KEYS)
    if not data:
        raise where.error("a threshold needs 'min', 'max' or both")
    bounds: dict[str, float | None] = {"min": None, "max": None}
    for key in ("min", "max"):
        if key in data:
            number = _number(data[key], where / key)
            if not 0 <= number <= 1:
                raise (where / key).error(
                    f"must be between 0 and 1 (every supported disparity is), got {number:g}"
                )
            bounds[key] = number
    lo, hi = bounds["min"], bounds["max"]
    if lo is not None and hi is not None and lo > hi:
        raise where.error(f"min {lo:g} is greater than max {hi:g}")
    if (lo is None or lo == 0) and (hi is None or hi == 1):
        # Every disparity lies in [0, 1]: such a threshold is a check that can never fail.
        raise where.error("these bounds allow every value from 0 to 1: the check could never fail")
    return Threshold(min=lo, max=hi)


def _fairness(value: Any, where: _Where) -> PartialFairness:
    from govern.checks.fairness import DISPARITIES, METRICS

    data = _mapping(value, where, _FAIRNESS_KEYS)
    min_group_size = None
    if "min_group_size" in data:
        size = data["min_group_size"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise (where / "min_group_size").error(f"expected a whole number >= 1, got {size!r}")
        min_group_size = size
    metrics: tuple[str, ...] = ()
    if "metrics" in data:
        metrics = _text_list(data["metrics"], where / "metrics")
        for i, name in enumerate(metrics):
            if name not in METRICS:
                raise (where / "metrics" / i).error(
                    f"unknown metric '{name}'{_suggest(name, METRICS)}"
                )
    thresholds: dict[str, Threshold] = {}
    if "thresholds" in data:
        tw = where / "thresholds"
        raw = data["thresholds"]
        if not isinstance(raw, dict):
            raise tw.error(f"expected a mapping, got {_type_name(raw)}")
        for name, bounds in raw.items():
            if name not in DISPARITIES:
                raise (tw / str(name)).error(
                    f"unknown disparity '{name}'{_suggest(str(name), DISPARITIES)}"
                )
            thresholds[name] = _threshold(bounds, tw / name)
    return PartialFairness(min_group_size, metrics, thresholds)


def _suggest(name: str, options: Sequence[str] | Mapping[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _expectations(value: Any, where: _Where, origin: str) -> tuple[ExpectationTemplate, ...]:
    from govern.checks.quality import validate_expectation

    if not isinstance(value, list):
        raise where.error(f"expected a list, got {_type_name(value)}")
    out = []
    for i, item in enumerate(value):
        w = where / i
        data = _mapping(item, w, _EXPECTATION_KEYS)
        if "type" not in data:
            raise w.error("missing 'type' (the Great Expectations expectation, snake_case)")
        type_ = _text(data["type"], w / "type")
        kwargs = data.get("kwargs", {})
        if kwargs is None:
            kwargs = {}
        if not isinstance(kwargs, dict):
            raise (w / "kwargs").error(f"expected a mapping, got {_type_name(kwargs)}")
        _check_placeholders(kwargs, w / "kwargs")
        for_each = None
        if "for_each_column" in data:
            fw = w / "for_each_column"
            for_each = _text_list(data["for_each_column"], fw)
            if not for_each:
                raise fw.error("expected at least one column or placeholder")
            for j, item_ in enumerate(for_each):
                if item_ == COLUMN:
                    raise (fw / j).error(f"'{COLUMN}' stands for each of these, not one of them")
                _check_placeholders(item_, fw / j)
            if not _uses(kwargs, COLUMN):
                raise (w / "kwargs").error(
                    f"for_each_column needs '{COLUMN}' in kwargs, or every column would get the "
                    "same check"
                )
        elif _uses(kwargs, COLUMN):
            raise (w / "kwargs").error(f"'{COLUMN}' is only allowed with for_each_column")
        # Validate with placeholders replaced by plausible values, so a bad argument is caught on
        # load rather than when the first version is audited.
        sample = _substitute(
            kwargs, label="label", sensitive=("a", "b"), columns=("a", "b"), column="a"
        )
        try:
            validate_expectation(type_, sample)
        except PolicyError as exc:
            raise w.error(str(exc)) from None
        out.append(ExpectationTemplate(type_, dict(kwargs), for_each, f"{origin}[{i}]"))
    return tuple(out)


def _check_placeholders(value: Any, where: _Where) -> None:
    """Reject ``$word`` that is not a placeholder; ``$$word`` is the literal text ``$word``."""
    if isinstance(value, str):
        if _PLACEHOLDER_RE.fullmatch(value) and value not in _PLACEHOLDERS:
            raise where.error(
                f"unknown placeholder '{value}'{_suggest(value, _PLACEHOLDERS)} "
                f"(placeholders: {', '.join(_PLACEHOLDERS)}; write '$${value[1:]}' for the "
                f"literal text '{value}')"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_placeholders(item, where / str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_placeholders(item, where / i)


def _uses(value: Any, placeholder: str) -> bool:
    if isinstance(value, str):
        return value == placeholder
    if isinstance(value, dict):
        return any(_uses(v, placeholder) for v in value.values())
    if isinstance(value, list):
        return any(_uses(v, placeholder) for v in value)
    return False


def _substitute(
    value: Any,
    *,
    label: str,
    sensitive: Sequence[str],
    columns: Sequence[str],
    column: str | None,
) -> Any:
    """Replace placeholders; a list item ``$sensitive_features`` or ``$all_columns`` splices in."""
    if isinstance(value, str):
        if value == LABEL:
            return label
        if value == COLUMN:
            return column
        if value == SENSITIVE_FEATURES:
            return list(sensitive)
        if value == ALL_COLUMNS:
            return list(columns)
        if value.startswith("$$"):
            return value[1:]
        return value
    if isinstance(value, dict):
        return {
            k: _substitute(v, label=label, sensitive=sensitive, columns=columns, column=column)
            for k, v in value.items()
        }
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            new = _substitute(
                item, label=label, sensitive=sensitive, columns=columns, column=column
            )
            if item in (SENSITIVE_FEATURES, ALL_COLUMNS):
                out.extend(new)
            else:
                out.append(new)
        return out
    return value


def resolve_expectations(
    entry: ModelPolicy,
    *,
    label: str,
    sensitive_features: Sequence[str],
    columns: Sequence[str],
) -> list[ExpectationSpec]:
    """Turn an entry's templates into concrete expectations for one version's data."""
    specs: list[ExpectationSpec] = []
    for template in entry.expectation_templates():
        targets: list[str | None]
        if template.for_each_column is None:
            targets = [None]
        else:
            targets = _substitute(
                list(template.for_each_column),
                label=label,
                sensitive=sensitive_features,
                columns=columns,
                column=None,
            )
        seen: set[str | None] = set()
        for column in targets:
            if column in seen:
                continue
            seen.add(column)
            kwargs = _substitute(
                dict(template.kwargs),
                label=label,
                sensitive=sensitive_features,
                columns=columns,
                column=column,
            )
            specs.append(ExpectationSpec(template.type, kwargs, template.origin))
    return specs


class _Packs:
    """Loads each pack file once per policy and keeps pack names unambiguous.

    A pack's name is what reports, results and the recorded ``packs_sha256`` show, so within one
    policy a name stands for exactly one file, and a user's pack cannot take a built-in's name.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self.by_file: dict[Path, Pack] = {}
        self.by_name: dict[str, Path] = {}
        self.builtins = {p.stem: p.resolve() for p in checks_dir().glob("*.yaml")}

    def load(self, ref: str, where: _Where) -> Pack:
        if "/" not in ref and "\\" not in ref and not ref.endswith((".yaml", ".yml")):
            if ref not in self.builtins:
                available = sorted(self.builtins)
                raise where.error(
                    f"unknown pack '{ref}'{_suggest(ref, available)} "
                    f"(built in: {', '.join(available)}; or give a path to a pack file)"
                )
            path = self.builtins[ref]
        else:
            # Shown and named as written (a symlink keeps its own name); identified by its target.
            path = Path(os.path.abspath(self.base / ref))
            if path.is_dir():
                raise where.error(f"pack file {path} is a folder, not a file")
            if not path.is_file():
                raise where.error(f"pack file {path} not found")
        file = path.resolve()
        if file not in self.by_file:
            pack = _load_pack(path)
            if pack.name in self.builtins and self.builtins[pack.name] != file:
                raise where.error(
                    f"pack {path} is named '{pack.name}' like the built-in pack; rename the file"
                )
            if pack.name in self.by_name:
                raise where.error(
                    f"pack {path} is named '{pack.name}' like {self.by_name[pack.name]}; pack "
                    "names must be unique in a policy"
                )
            self.by_name[pack.name] = path
            self.by_file[file] = pack
        return self.by_file[file]


def _load_pack(path: Path) -> Pack:
    data, text, sha = _read_yaml(path, "pack")
    pw = _Where(str(path))
    if data is None:
        raise pw.error("the file is empty")
    pack = _mapping(data, pw, _PACK_KEYS)
    name = _text(pack.get("name", path.stem), pw / "name")
    if name != path.stem:
        raise (pw / "name").error(
            f"'{name}' differs from the file name '{path.name}': a pack is named after its file "
            "so that reports name it as the policy does"
        )
    description = pack.get("description", "")
    if not isinstance(description, str):
        raise (pw / "description").error("expected text")
    source = pack.get("source", "")
    if not isinstance(source, str):
        raise (pw / "source").error("expected text")
    expectations = (
        _expectations(pack["expectations"], pw / "expectations", f"pack {name} expectations")
        if "expectations" in pack
        else ()
    )
    fairness = (
        _fairness(pack["fairness"], pw / "fairness") if "fairness" in pack else PartialFairness()
    )
    return Pack(name, description, source, str(path), sha, text, expectations, fairness)


def _positive_label(value: Any, where: _Where) -> Any:
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise where.error(f"expected a number, text or boolean, got {_type_name(value)}")


def _entry(index: int, value: Any, where: _Where, loader: _Packs) -> ModelPolicy:
    data = _mapping(value, where, _ENTRY_KEYS)
    if "match" not in data:
        raise where.error("missing 'match' (a glob on the registered model name)")
    match = _text(data["match"], where / "match")
    packs: tuple[Pack, ...] = ()
    if "packs" in data:
        refs = _text_list(data["packs"], where / "packs")
        loaded: list[Pack] = []
        for i, ref in enumerate(refs):
            pack = loader.load(ref, where / "packs" / i)
            for j, other in enumerate(loaded):
                if other.name == pack.name:
                    raise (where / "packs" / i).error(
                        f"pack '{pack.name}' is already listed at packs[{j}]"
                    )
            loaded.append(pack)
        packs = tuple(loaded)
    label = _text(data["label"], where / "label") if "label" in data else None
    positive = (
        _positive_label(data["positive_label"], where / "positive_label")
        if "positive_label" in data
        else None
    )
    sensitive = (
        _text_list(data["sensitive_features"], where / "sensitive_features")
        if "sensitive_features" in data
        else None
    )
    if sensitive == ():
        raise (where / "sensitive_features").error(
            "expected at least one column; leave the key out to use the sensitive features "
            "logged with the training data"
        )
    dataset = _text(data["dataset"], where / "dataset") if "dataset" in data else None
    expectations = (
        _expectations(
            data["expectations"], where / "expectations", f"policy {where.path}.expectations"
        )
        if "expectations" in data
        else ()
    )
    fairness = (
        _fairness(data["fairness"], where / "fairness") if "fairness" in data else PartialFairness()
    )
    return ModelPolicy(
        index, match, packs, label, positive, sensitive, dataset, expectations, fairness
    )


def default_policy_path() -> Path:
    """``GOVERN_POLICY``, else ``./govern.yaml``."""
    return Path(os.environ.get("GOVERN_POLICY") or DEFAULT_POLICY_FILE)


def load_policy(path: str | os.PathLike[str] | None = None) -> Policy:
    """Read and validate a policy file and every pack it names; raise PolicyError on any flaw."""
    policy_path = Path(path) if path is not None else default_policy_path()
    if not policy_path.exists() and path is None:
        raise _error(
            f"policy file {policy_path} not found (pass --policy FILE or set GOVERN_POLICY)"
        )
    if policy_path.is_dir():
        raise _error(f"policy {policy_path}: is a folder, not a file")
    data, text, sha = _read_yaml(policy_path, "policy")
    where = _Where(str(policy_path))
    if data is None:
        raise where.error("the file is empty")
    try:
        return _policy(data, where, policy_path, text, sha)
    except RecursionError:
        raise where.error("nested too deeply") from None


def _policy(data: Any, where: _Where, policy_path: Path, text: str, sha: str) -> Policy:
    top = _mapping(data, where, _TOP_KEYS)
    if "version" not in top:
        raise where.error(f"missing 'version' (this govern reads version {POLICY_VERSION})")
    version = top["version"]
    if type(version) is not int or version != POLICY_VERSION:
        raise (where / "version").error(
            f"unsupported policy version {version!r} (this govern reads {POLICY_VERSION})"
        )
    experiment = DEFAULT_AUDIT_EXPERIMENT
    if "audit_experiment" in top:
        experiment = _text(top["audit_experiment"], where / "audit_experiment")
    if "models" not in top:
        raise where.error("missing 'models' (a list of entries with 'match')")
    models = top["models"]
    if not isinstance(models, list) or not models:
        raise (where / "models").error(
            f"expected a non-empty list of entries with 'match', got {_describe(models)}"
        )
    loader = _Packs(policy_path.resolve().parent)
    entries = tuple(_entry(i, m, where / "models" / i, loader) for i, m in enumerate(models))
    for entry in entries:
        for earlier in entries[: entry.index]:
            if earlier.match in (entry.match, "*"):
                raise (where / "models" / entry.index / "match").error(
                    f"'{entry.match}' can never apply: models[{earlier.index}] has match "
                    f"'{earlier.match}' and the first matching entry wins"
                )
    return Policy(str(policy_path), sha, text, experiment, entries)


def _describe(value: Any) -> str:
    return "an empty list" if value == [] else _type_name(value)
