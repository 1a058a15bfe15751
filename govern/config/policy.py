"""The policy file and check packs: parsed strictly, validated whole, before any check runs.

A policy is a contract users write against, so every key is declared here and anything else is
rejected with the file and key named. Great Expectations silently drops a malformed expectation;
that would turn a typo into a pass, so each expectation is validated on load
(``govern.config.expectations``).

A pack is named after its file (``name``, if given, must equal the file name without ``.yaml``);
within one policy a pack name stands for one file, a user's pack cannot take a built-in's name, and
an entry lists a pack at most once: reports and ``packs_sha256`` identify packs by name alone.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from govern.config.expectations import ExpectationTemplate, parse_expectations
from govern.config.fields import (
    Where,
    as_mapping,
    as_number,
    as_text,
    as_text_list,
    error,
    suggest,
    type_name,
)
from govern.config.review import ReviewPolicy, parse_review
from govern.config.selectors import validate_alias
from govern.config.trust import Trust, parse_trust
from govern.config.waivers import (
    DEFAULT_MAX_WAIVER_DAYS,
    WaiverSet,
    load_waivers,
    max_waiver_days,
)
from govern.config.yaml_loader import read_yaml
from govern.errors import UsageError
from govern.model.specs import (
    DISPARITIES,
    EVALUATION_CONTEXTS,
    METRICS,
    TRAINING_CONTEXTS,
    FairnessSpec,
    Threshold,
)
from govern.resources import checks_dir

POLICY_VERSION = 1
DEFAULT_POLICY_FILE = "govern.yaml"
DEFAULT_AUDIT_EXPERIMENT = "govern-audits"
DEFAULT_MIN_GROUP_SIZE = 30

_TOP_KEYS = {
    "version",
    "audit_experiment",
    "models",
    "trust",
    "review",
    "waivers",
    "max_waiver_days",
    "protected_aliases",
}
_ENTRY_KEYS = {
    "match",
    "packs",
    "label",
    "positive_label",
    "sensitive_features",
    "dataset",
    "dataset_context",
    "evaluation_context",
    "expectations",
    "fairness",
    "integrity",
    "model_env",
}
_PACK_KEYS = {"name", "description", "source", "expectations", "fairness"}
_FAIRNESS_KEYS = {"min_group_size", "metrics", "thresholds", "data"}
_ENTRY_FAIRNESS_KEYS = _FAIRNESS_KEYS | {"not_applicable"}
FAIRNESS_DATA = ("evaluation", "training")
_THRESHOLD_KEYS = {"min", "max"}


@dataclass(frozen=True)
class PartialFairness:
    """Fairness settings as written in one pack or entry; ``None`` means "not said here"."""

    min_group_size: int | None = None
    metrics: tuple[str, ...] = ()
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    data: str | None = None
    not_applicable: str | None = None
    """Why fairness does not apply to these models (entries only); shown in every report."""


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
    training_contexts: tuple[str, ...] = TRAINING_CONTEXTS
    """Dataset-input contexts that mark the training data (``dataset_context``)."""
    evaluation_contexts: tuple[str, ...] = EVALUATION_CONTEXTS
    """Contexts that mark held-out evaluation data (``evaluation_context``)."""
    integrity_require: str = "pinned"
    """The weakest proof accepted that the data is what the model was trained on
    (``integrity: {require: ...}``): ``training-hash``, ``pinned`` or ``mlflow-digest``."""
    model_env: str = "warn"
    """``strict``: a major or minor version difference between the library the model's flavor
    declares and the installed one fails; ``warn`` (default): it is a visible warning."""

    def fairness_spec(self) -> FairnessSpec:
        """Merge packs then the entry: later thresholds win, metrics are the union in order."""
        min_group_size: int | None = None
        metrics: list[str] = []
        thresholds: dict[str, Threshold] = {}
        data: str | None = None
        for part in [p.fairness for p in self.packs] + [self.fairness]:
            if part.data is not None:
                data = part.data
            if part.min_group_size is not None:
                min_group_size = part.min_group_size
            metrics.extend(m for m in part.metrics if m not in metrics)
            thresholds.update(part.thresholds)
        return FairnessSpec(
            min_group_size=DEFAULT_MIN_GROUP_SIZE if min_group_size is None else min_group_size,
            metrics=tuple(metrics),
            thresholds=thresholds,
            data=data,
            not_applicable=self.fairness.not_applicable,
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
    trust: Trust | None = None
    """Whose keys may sign audits and reviews; ``None``: unsigned records are accepted, and
    marked unsigned everywhere."""
    max_waiver_days: int = DEFAULT_MAX_WAIVER_DAYS
    waivers_file: str | None = None
    """The ``waivers`` key, resolved against the policy's folder; ``None`` when not given."""
    waivers: WaiverSet | None = None
    """The waivers in force for this run: the policy's file, or the one ``--waivers`` named."""
    review: ReviewPolicy | None = None
    """Sign-offs ``gate --promote-to`` requires; ``None``: none."""
    protected_aliases: tuple[str, ...] = ()
    """Aliases ``govern serve`` guards: when one is moved to a version without a verified
    passing audit (and the required reviews), govern moves it back and records an incident."""

    def for_model(self, name: str) -> ModelPolicy | None:
        """First entry whose glob matches wins; ``None`` means the version fails closed."""
        for entry in self.entries:
            if fnmatch.fnmatchcase(name, entry.match):
                return entry
        return None

    def packs_sha256(self) -> dict[str, str]:
        return {p.name: p.sha256 for e in self.entries for p in e.packs}

    @property
    def digest(self) -> str:
        """SHA-256 of the policy as resolved: its own bytes and every pack file it names.

        A pack named by path can change while the policy file does not; whatever the digest
        does not cover could change an outcome without invalidating a reused result.
        """
        resolved = {"policy": self.sha256, "packs": self.packs_sha256()}
        return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()


def _threshold(value: Any, where: Where) -> Threshold:
    data = as_mapping(value, where, _THRESHOLD_KEYS)
    if not data:
        raise where.error("a threshold needs 'min', 'max' or both")
    bounds: dict[str, float | None] = {"min": None, "max": None}
    for key in ("min", "max"):
        if key in data:
            number = as_number(data[key], where / key)
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


def _fairness(value: Any, where: Where, *, in_entry: bool = False) -> PartialFairness:
    data = as_mapping(value, where, _ENTRY_FAIRNESS_KEYS if in_entry else _FAIRNESS_KEYS)
    if "not_applicable" in data:
        # The reason is shown to the reviewer in place of the fairness section.
        reason = as_text(data["not_applicable"], where / "not_applicable").strip()
        others = sorted(set(data) - {"not_applicable"})
        if others:
            raise (where / "not_applicable").error(
                f"cannot be combined with '{others[0]}': fairness either applies or it does not"
            )
        return PartialFairness(not_applicable=reason)
    min_group_size = None
    if "min_group_size" in data:
        size = data["min_group_size"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise (where / "min_group_size").error(f"expected a whole number >= 1, got {size!r}")
        min_group_size = size
    metrics: tuple[str, ...] = ()
    if "metrics" in data:
        metrics = as_text_list(data["metrics"], where / "metrics")
        for i, name in enumerate(metrics):
            if name not in METRICS:
                raise (where / "metrics" / i).error(
                    f"unknown metric '{name}'{suggest(name, METRICS)}"
                )
    thresholds: dict[str, Threshold] = {}
    if "thresholds" in data:
        tw = where / "thresholds"
        raw = data["thresholds"]
        if not isinstance(raw, dict):
            raise tw.error(f"expected a mapping, got {type_name(raw)}")
        for name, bounds in raw.items():
            if name not in DISPARITIES:
                raise (tw / str(name)).error(
                    f"unknown disparity '{name}'{suggest(str(name), DISPARITIES)}"
                )
            thresholds[name] = _threshold(bounds, tw / name)
    data_choice = None
    if "data" in data:
        data_choice = as_text(data["data"], where / "data")
        if data_choice not in FAIRNESS_DATA:
            raise (where / "data").error(
                f"expected {' or '.join(FAIRNESS_DATA)}, got '{data_choice}'"
            )
    return PartialFairness(min_group_size, metrics, thresholds, data_choice)


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

    def load(self, ref: str, where: Where) -> Pack:
        if "/" not in ref and "\\" not in ref and not ref.endswith((".yaml", ".yml")):
            if ref not in self.builtins:
                available = sorted(self.builtins)
                raise where.error(
                    f"unknown pack '{ref}'{suggest(ref, available)} "
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
    data, text, sha = read_yaml(path, "pack")
    pw = Where(str(path))
    if data is None:
        raise pw.error("the file is empty")
    pack = as_mapping(data, pw, _PACK_KEYS)
    name = as_text(pack.get("name", path.stem), pw / "name")
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
        parse_expectations(pack["expectations"], pw / "expectations", f"pack {name} expectations")
        if "expectations" in pack
        else ()
    )
    fairness = (
        _fairness(pack["fairness"], pw / "fairness") if "fairness" in pack else PartialFairness()
    )
    return Pack(name, description, source, str(path), sha, text, expectations, fairness)


INTEGRITY_PROOFS = ("training-hash", "pinned", "mlflow-digest")


def _integrity(value: Any, where: Where) -> str:
    data = as_mapping(value, where, {"require"})
    if "require" not in data:
        raise where.error(f"missing 'require' (one of: {', '.join(INTEGRITY_PROOFS)})")
    require = as_text(data["require"], where / "require")
    if require not in INTEGRITY_PROOFS:
        raise (where / "require").error(
            f"expected one of {', '.join(INTEGRITY_PROOFS)}, got '{require}'"
        )
    return require


def _model_env(value: Any, where: Where) -> str:
    mode = as_text(value, where)
    if mode not in ("strict", "warn"):
        raise where.error(f"expected strict or warn, got '{mode}'")
    return mode


def _positive_label(value: Any, where: Where) -> Any:
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise where.error(f"expected a number, text or boolean, got {type_name(value)}")


def _entry(index: int, value: Any, where: Where, loader: _Packs) -> ModelPolicy:
    data = as_mapping(value, where, _ENTRY_KEYS)
    if "match" not in data:
        raise where.error("missing 'match' (a glob on the registered model name)")
    match = as_text(data["match"], where / "match")
    packs: tuple[Pack, ...] = ()
    if "packs" in data:
        refs = as_text_list(data["packs"], where / "packs")
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

    def optional(key: str, parse: Callable[[Any, Where], Any], default: Any = None) -> Any:
        return parse(data[key], where / key) if key in data else default

    label = optional("label", as_text)
    positive = optional("positive_label", _positive_label)
    sensitive = optional("sensitive_features", as_text_list)
    if sensitive == ():
        raise (where / "sensitive_features").error(
            "expected at least one column; leave the key out to use the sensitive features "
            "logged with the training data"
        )
    dataset = optional("dataset", as_text)
    expectations = optional(
        "expectations",
        lambda value, w: parse_expectations(value, w, f"policy {where.path}.expectations"),
        (),
    )
    fairness = optional("fairness", lambda v, w: _fairness(v, w, in_entry=True), PartialFairness())
    training_contexts = optional("dataset_context", as_text_list, TRAINING_CONTEXTS)
    integrity_require = optional("integrity", _integrity, "pinned")
    model_env = optional("model_env", _model_env, "warn")
    evaluation_contexts = optional("evaluation_context", as_text_list, EVALUATION_CONTEXTS)
    if not training_contexts:
        raise (where / "dataset_context").error("expected at least one context")
    both = [c for c in training_contexts if c in evaluation_contexts]
    if both:
        raise (where / "evaluation_context").error(
            f"context '{both[0]}' cannot mark both training and evaluation data"
        )
    entry = ModelPolicy(
        index,
        match,
        packs,
        label,
        positive,
        sensitive,
        dataset,
        expectations,
        fairness,
        training_contexts,
        evaluation_contexts,
        integrity_require,
        model_env,
    )
    _must_check_something(entry, where)
    return entry


def _must_check_something(entry: ModelPolicy, where: Where) -> None:
    """An entry that checks nothing would pass every version on lineage alone: a verdict that
    says PASS with no evidence behind it. Each entry needs data-quality expectations, and a
    fairness threshold or a written reason why fairness does not apply."""
    if not entry.expectation_templates():
        raise where.error("checks no data quality: add 'packs' (e.g. [baseline]) or 'expectations'")
    spec = entry.fairness_spec()
    if spec.not_applicable is not None:
        bound = [p.name for p in entry.packs if p.fairness.thresholds or p.fairness.metrics]
        if bound:
            raise (where / "fairness" / "not_applicable").error(
                f"pack '{bound[0]}' sets fairness checks for this entry; remove it or the "
                "not_applicable reason"
            )
        return
    if not spec.thresholds:
        raise where.error(
            "sets no fairness threshold: add a fairness pack (e.g. four-fifths), "
            "'fairness: {thresholds: ...}', or 'fairness: {not_applicable: <reason>}'"
        )


def default_policy_path() -> Path:
    """``GOVERN_POLICY``, else ``./govern.yaml``."""
    return Path(os.environ.get("GOVERN_POLICY") or DEFAULT_POLICY_FILE)


def load_policy(
    path: str | os.PathLike[str] | None = None,
    *,
    waivers: str | os.PathLike[str] | None = None,
) -> Policy:
    """Read and validate a policy file, every pack it names and its waivers file (``waivers``
    overrides the policy's ``waivers`` key); raise PolicyError on any flaw."""
    policy_path = Path(path) if path is not None else default_policy_path()
    if not policy_path.exists() and path is None:
        raise error(
            f"policy file {policy_path} not found (pass --policy FILE or set GOVERN_POLICY)"
        )
    if policy_path.is_dir():
        raise error(f"policy {policy_path}: is a folder, not a file")
    data, text, sha = read_yaml(policy_path, "policy")
    where = Where(str(policy_path))
    if data is None:
        raise where.error("the file is empty")
    try:
        policy = _policy(data, where, policy_path, text, sha)
    except RecursionError:
        raise where.error("nested too deeply") from None
    chosen = waivers if waivers is not None else policy.waivers_file
    if chosen is None:
        return policy
    return replace(policy, waivers=load_waivers(chosen, policy.max_waiver_days))


def _policy(data: Any, where: Where, policy_path: Path, text: str, sha: str) -> Policy:
    top = as_mapping(data, where, _TOP_KEYS)
    if "version" not in top:
        raise where.error(f"missing 'version' (this govern reads version {POLICY_VERSION})")
    version = top["version"]
    if type(version) is not int or version != POLICY_VERSION:
        raise (where / "version").error(
            f"unsupported policy version {version!r} (this govern reads {POLICY_VERSION})"
        )
    experiment = DEFAULT_AUDIT_EXPERIMENT
    if "audit_experiment" in top:
        experiment = as_text(top["audit_experiment"], where / "audit_experiment")
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
    trust = (
        parse_trust(top["trust"], where / "trust", policy_path.resolve().parent)
        if "trust" in top
        else None
    )
    review = parse_review(top["review"], where / "review", trust) if "review" in top else None
    max_days = DEFAULT_MAX_WAIVER_DAYS
    if "max_waiver_days" in top:
        max_days = max_waiver_days(top["max_waiver_days"], where / "max_waiver_days")
    protected: tuple[str, ...] = ()
    if "protected_aliases" in top:
        protected = _protected_aliases(top["protected_aliases"], where / "protected_aliases")
    waivers_file = None
    if "waivers" in top:
        ref = as_text(top["waivers"], where / "waivers")
        waivers_file = os.path.abspath(policy_path.resolve().parent / ref)
    return Policy(
        str(policy_path),
        sha,
        text,
        experiment,
        entries,
        trust=trust,
        max_waiver_days=max_days,
        waivers_file=waivers_file,
        review=review,
        protected_aliases=protected,
    )


def _protected_aliases(value: Any, where: Where) -> tuple[str, ...]:
    """Alias names MLflow could set: a reserved or malformed one could never be guarded, and
    a typo here would leave the real alias unguarded without a word."""
    aliases = as_text_list(value, where)
    for i, alias in enumerate(aliases):
        try:
            validate_alias(alias)
        except UsageError as exc:
            raise (where / i).error(str(exc)) from None
    return aliases


def _describe(value: Any) -> str:
    return "an empty list" if value == [] else type_name(value)
