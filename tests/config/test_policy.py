"""The policy file and check packs: real files under tmp_path, loaded and validated for real.

Every rejection is asserted by its exact message: the file, the key path and what is wrong, on one
line with no traceback, because that line is all a user sees (exit code 2).
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from pathlib import Path

import pytest

from govern.checks.quality import validate_expectation
from govern.config.expectations import resolve_expectations
from govern.config.policy import (
    DEFAULT_AUDIT_EXPERIMENT,
    DEFAULT_MIN_GROUP_SIZE,
    ModelPolicy,
    Pack,
    Policy,
    default_policy_path,
    load_policy,
)
from govern.errors import EXIT_USAGE, PolicyError
from govern.model.specs import Threshold
from govern.resources import checks_dir

BUILTINS = sorted(p.stem for p in checks_dir().glob("*.yaml"))

EXAMPLE = """\
version: 1
audit_experiment: govern-audits      # optional
models:
  - match: "credit-*"              # fnmatch glob on the registered model name; first match wins
    packs: [baseline, four-fifths] # built-in pack names or paths to pack files
    label: default
    positive_label: 1
    sensitive_features: [sex, race]
    dataset: train.parquet          # optional: which training dataset when a run has several
    expectations:
      - type: expect_column_values_to_be_between
        kwargs: {column: age, min_value: 18, max_value: 100}
      - type: expect_column_values_to_not_be_null
        for_each_column: [$label, $sensitive_features]
        kwargs: {column: $column}
    fairness:
      min_group_size: 30
      metrics: [selection_rate, true_positive_rate, false_positive_rate]
      thresholds:
        demographic_parity_ratio: {min: 0.8}
        equalized_odds_difference: {max: 0.1}
"""

BUILTINS_AS_LIST = "baseline, four-fifths"
CHECKS = f"packs: [{BUILTINS_AS_LIST}]"
"""What makes an entry valid: data-quality expectations and a fairness threshold."""

ENTRY = f"""\
version: 1
models:
  - match: "credit-*"
    {CHECKS}
"""
"""A valid policy with one entry; cases append indented entry keys to it."""

BARE_ENTRY = """\
version: 1
models:
  - match: "credit-*"
"""
"""The entry with only its glob: cases that set ``packs`` themselves start here."""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def entry_with(tmp_path: Path, extra: str) -> Path:
    """The one-entry policy with ``extra`` (YAML at entry level) added to its entry.

    ``extra`` that sets ``packs`` replaces the default packs; ``extra`` with its own
    expectations gets only the fairness pack, so the case sees its expectations alone."""
    extra = textwrap.dedent(extra)
    if re.search(r"^packs:", extra, re.MULTILINE):
        base = BARE_ENTRY
    elif re.search(r"^expectations:", extra, re.MULTILINE):
        base = BARE_ENTRY + "    packs: [four-fifths]\n"
    else:
        base = ENTRY
    return write(tmp_path / "govern.yaml", base + textwrap.indent(extra, "    "))


def rejected(path: str | Path | None = None) -> str:
    """Load, expect a PolicyError, check it is one clean line, and return its message."""
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert "Traceback" not in message and 'File "' not in message
    assert info.value.exit_code == EXIT_USAGE
    return message


def assert_rejected(path: Path, expected: str) -> str:
    """The message is ``<policy file>: <expected>``: file first, then key path and problem."""
    message = rejected(path)
    assert message.startswith(f"{path}: "), message
    assert f"{path}: {expected}" in message, message
    return message


# --- YAML itself --------------------------------------------------------------------------------


def test_malformed_yaml_names_file_line_and_column(tmp_path):
    path = write(tmp_path / "govern.yaml", "version: 1\nmodels: [{match: x}]\nlabel: a: b\n")
    message = rejected(path)
    assert message == (
        f"policy {path}: invalid YAML at line 3, column 9: mapping values are not allowed here"
    )


def test_unclosed_flow_list_is_reported_where_the_file_ends(tmp_path):
    path = write(tmp_path / "govern.yaml", "version: 1\nmodels: [a, b\n")
    assert rejected(path) == (
        f"policy {path}: invalid YAML at line 3, column 1: expected ',' or ']', but got "
        "'<stream end>'"
    )


def test_tab_indentation_is_malformed_yaml(tmp_path):
    path = write(tmp_path / "govern.yaml", "version: 1\nmodels:\n\t- match: x\n")
    message = rejected(path)
    assert message.startswith(f"policy {path}: invalid YAML at line 3, column 1: ")
    assert "cannot start any token" in message


@pytest.mark.parametrize(
    ("tag", "shown"),
    [
        ("!!python/object:os.system {}", "!!python/object:os.system"),
        ('!!python/object/apply:os.system ["touch {marker}"]', "!!python/object/apply:os.system"),
        ('!!python/object/new:os.system ["touch {marker}"]', "!!python/object/new:os.system"),
        ("!!python/name:os.system ''", "!!python/name:os.system"),
        ('!!python/object/apply:os.system ["echo hi > {marker}"]', "!!python/object/apply"),
    ],
)
def test_python_tags_are_rejected_and_never_executed(tmp_path, tag, shown):
    marker = tmp_path / "executed"
    path = write(
        tmp_path / "govern.yaml", f"version: 1\nmodels: {tag.replace('{marker}', str(marker))}\n"
    )
    message = rejected(path)
    assert message.startswith(f"policy {path}: invalid YAML at line 2, column 9: tag '{shown}")
    assert "is not allowed (a policy is plain data)" in message
    assert not marker.exists()


def test_python_tag_in_a_pack_is_rejected_and_never_executed(tmp_path):
    marker = tmp_path / "executed"
    pack = write(
        tmp_path / "evil.yaml",
        f'name: evil\nexpectations: !!python/object/apply:os.system ["touch {marker}"]\n',
    )
    entry_with(tmp_path, "packs: [evil.yaml]\n")
    message = rejected(tmp_path / "govern.yaml")
    assert message.startswith(f"pack {pack.resolve()}: invalid YAML at line 2, column 15: tag ")
    assert not marker.exists()


def test_duplicate_top_level_key(tmp_path):
    path = write(tmp_path / "govern.yaml", "version: 1\nmodels: [{match: x}]\nversion: 1\n")
    assert (
        rejected(path)
        == f"policy {path}: invalid YAML at line 3, column 1: duplicate key 'version'"
    )


def test_duplicate_key_inside_an_entry(tmp_path):
    path = entry_with(tmp_path, "label: default\nlabel: target\n")
    assert (
        rejected(path) == f"policy {path}: invalid YAML at line 6, column 5: duplicate key 'label'"
    )


def test_duplicate_key_inside_expectation_kwargs(tmp_path):
    path = entry_with(
        tmp_path,
        """\
        expectations:
          - type: expect_column_values_to_be_between
            kwargs: {column: age, min_value: 1, min_value: 2}
        """,
    )
    assert "duplicate key 'min_value'" in rejected(path)


def test_list_as_a_mapping_key_is_a_clean_error(tmp_path):
    path = write(tmp_path / "govern.yaml", "version: 1\n? [a, b]\n: 1\nmodels: [{match: x}]\n")
    assert rejected(path) == (
        f"policy {path}: invalid YAML at line 2, column 3: "
        "a key must be text, not a list or mapping"
    )


def test_deeply_nested_yaml_is_a_policy_error_not_a_crash(tmp_path):
    path = write(tmp_path / "govern.yaml", "version: 1\nmodels: " + "[" * 5000 + "]" * 5000)
    assert rejected(path) == f"policy {path}: invalid YAML: nested too deeply"


def test_merge_keys_work_and_explicit_keys_override(tmp_path):
    path = write(
        tmp_path / "govern.yaml",
        """\
        version: 1
        models:
          - &credit
            match: "credit-*"
            packs: [baseline, four-fifths]
            label: default
            sensitive_features: [sex]
          - <<: *credit
            match: "loan-*"
            label: defaulted
        """,
    )
    policy = load_policy(path)
    loan = policy.for_model("loan-1")
    assert loan is not None and loan.index == 1
    assert loan.label == "defaulted"
    assert loan.sensitive_features == ("sex",)


def test_yes_and_no_are_text_not_booleans(tmp_path):
    # Under YAML 1.1 `yes` is True, which never equals a label value "yes" (bank-marketing style).
    path = entry_with(tmp_path, "label: y\npositive_label: yes\nsensitive_features: [on, off]\n")
    entry = load_policy(path).entries[0]
    assert entry.positive_label == "yes"
    assert entry.sensitive_features == ("on", "off")


@pytest.mark.parametrize(("written", "value"), [("true", True), ("False", False), ("1", 1)])
def test_true_false_and_numbers_keep_their_types(tmp_path, written, value):
    path = entry_with(tmp_path, f"positive_label: {written}\n")
    positive = load_policy(path).entries[0].positive_label
    assert positive == value and type(positive) is type(value)


# --- the file itself ----------------------------------------------------------------------------


def test_empty_file(tmp_path):
    path = write(tmp_path / "govern.yaml", "")
    assert rejected(path) == f"{path}: the file is empty"


def test_comments_only_file_is_empty(tmp_path):
    path = write(tmp_path / "govern.yaml", "# nothing yet\n\n")
    assert rejected(path) == f"{path}: the file is empty"


def test_folder_given_as_policy(tmp_path):
    folder = tmp_path / "policies"
    folder.mkdir()
    assert rejected(folder) == f"policy {folder}: is a folder, not a file"


def test_missing_explicit_file(tmp_path):
    path = tmp_path / "nope.yaml"
    assert rejected(path) == f"policy {path}: file not found"


def test_missing_default_file_says_how_to_give_one():
    assert rejected() == (
        "policy file govern.yaml not found (pass --policy FILE or set GOVERN_POLICY)"
    )


def test_missing_file_named_by_env(monkeypatch):
    monkeypatch.setenv("GOVERN_POLICY", "conf/other.yaml")
    assert rejected() == (
        "policy file conf/other.yaml not found (pass --policy FILE or set GOVERN_POLICY)"
    )


def test_default_path_is_env_then_govern_yaml(monkeypatch):
    assert default_policy_path() == Path("govern.yaml")
    monkeypatch.setenv("GOVERN_POLICY", "")
    assert default_policy_path() == Path("govern.yaml")
    monkeypatch.setenv("GOVERN_POLICY", "conf/p.yaml")
    assert default_policy_path() == Path("conf/p.yaml")


def test_default_file_in_working_directory_is_loaded(tmp_path):
    write(tmp_path / "govern.yaml", ENTRY)  # the autouse fixture made tmp_path the cwd
    policy = load_policy()
    assert policy.path == "govern.yaml"
    assert policy.entries[0].match == "credit-*"


def test_env_policy_wins_over_govern_yaml(tmp_path, monkeypatch):
    write(tmp_path / "govern.yaml", ENTRY)
    write(tmp_path / "conf" / "p.yaml", ENTRY.replace("credit-*", "loan-*"))
    monkeypatch.setenv("GOVERN_POLICY", "conf/p.yaml")
    policy = load_policy()
    assert policy.path == "conf/p.yaml"
    assert policy.entries[0].match == "loan-*"


def test_explicit_path_wins_over_env(tmp_path, monkeypatch):
    write(tmp_path / "a.yaml", ENTRY)
    monkeypatch.setenv("GOVERN_POLICY", str(tmp_path / "missing.yaml"))
    assert load_policy(tmp_path / "a.yaml").entries[0].match == "credit-*"


def test_non_utf8_bytes(tmp_path):
    path = tmp_path / "govern.yaml"
    path.write_bytes(b"version: 1\nmodels: [{match: caf\xe9}]\n")
    assert rejected(path) == f"policy {path}: not UTF-8 text"


def test_control_characters_in_keys_stay_on_one_line(tmp_path):
    path = entry_with(tmp_path, '"lab\\nel": x\n')
    message = assert_rejected(path, "models[0]: unknown key 'lab\\nel'")
    assert "lab\nel" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- 1\n", "expected a mapping, got a list"),
        ("hello\n", "expected a mapping, got text"),
        ("1: x\nversion: 1\n", "keys must be text, got 1"),
        ("models: [{match: x}]\n", "missing 'version' (this govern reads version 1)"),
        ("version: 2\nmodels: [{match: x}]\n", "version: unsupported policy version 2 (this "),
        ("version: '1'\nmodels: [{match: x}]\n", "version: unsupported policy version '1'"),
        ("version: 1.0\nmodels: [{match: x}]\n", "version: unsupported policy version 1.0"),
        ("version: true\nmodels: [{match: x}]\n", "version: unsupported policy version True"),
        ("version: 1\n", "missing 'models' (a list of entries with 'match')"),
        (
            "version: 1\nmodels: {match: x}\n",
            "models: expected a non-empty list of entries with 'match', got a mapping",
        ),
        (
            "version: 1\nmodels: []\n",
            "models: expected a non-empty list of entries with 'match', got an empty list",
        ),
        ("version: 1\nmodels: [credit]\n", "models[0]: expected a mapping, got text"),
        (
            "version: 1\nmodels:\n  - label: x\n",
            "models[0]: missing 'match' (a glob on the registered model name)",
        ),
        (
            "version: 1\naudit_experiment: ''\nmodels: [{match: x}]\n",
            "audit_experiment: expected non-empty text, got an empty string",
        ),
        (
            "version: 1\naudit_experiment: 3\nmodels: [{match: x}]\n",
            "audit_experiment: expected non-empty text, got int",
        ),
        (
            "version: 1\nmodelz: []\nmodels: [{match: x}]\n",
            "unknown key 'modelz' (did you mean 'models'?; allowed: audit_experiment, "
            "max_waiver_days, models, protected_aliases, review, trust, version, waivers)",
        ),
        (
            f"version: 1\nmodels: [{{match: a, {CHECKS}}}, {{match: b, {CHECKS}}}, "
            f"{{match: a, {CHECKS}}}]\n",
            "models[2].match: 'a' can never apply: models[0] has match 'a' and the first "
            "matching entry wins",
        ),
        (
            f"version: 1\nmodels: [{{match: '*', {CHECKS}}}, {{match: 'credit-*', {CHECKS}}}]\n",
            "models[1].match: 'credit-*' can never apply: models[0] has match '*'",
        ),
    ],
)
def test_top_level_errors(tmp_path, text, expected):
    assert_rejected(write(tmp_path / "govern.yaml", text), expected)


# --- entries --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "sensitive_feature: [sex]\n",
            "models[0]: unknown key 'sensitive_feature' (did you mean 'sensitive_features'?; "
            "allowed: dataset, dataset_context, evaluation_context, expectations, fairness, "
            "integrity, label, match, model_env, packs, positive_label, sensitive_features)",
        ),
        ("dataset_context: []\n", "models[0].dataset_context: expected at least one context"),
        (
            "dataset_context: [train]\nevaluation_context: [train, test]\n",
            "models[0].evaluation_context: context 'train' cannot mark both training and "
            "evaluation data",
        ),
        ("match2: x\n", "models[0]: unknown key 'match2'"),
        ("packs: baseline\n", "models[0].packs: expected a list of text, got text"),
        ("packs: [baseline, 3]\n", "models[0].packs[1]: expected non-empty text, got int"),
        (
            "packs: [baseline, baseline]\n",
            "models[0].packs[1]: 'baseline' is listed twice (first at [0])",
        ),
        (
            "sensitive_features: sex\n",
            "models[0].sensitive_features: expected a list of text, got ",
        ),
        (
            "sensitive_features: []\n",
            "models[0].sensitive_features: expected at least one column; leave the key out",
        ),
        (
            "sensitive_features: [sex, sex]\n",
            "models[0].sensitive_features[1]: 'sex' is listed twice (first at [0])",
        ),
        ("sensitive_features: [sex, null]\n", "models[0].sensitive_features[1]: expected "),
        ("label: [a]\n", "models[0].label: expected non-empty text, got a list"),
        ("label: ' '\n", "models[0].label: expected non-empty text, got an empty string"),
        ("dataset: 3\n", "models[0].dataset: expected non-empty text, got int"),
        (
            "positive_label: [1]\n",
            "models[0].positive_label: expected a number, text or boolean, got a list",
        ),
        (
            "positive_label: .nan\n",
            "models[0].positive_label: expected a number, text or boolean, got float",
        ),
        (
            "positive_label: null\n",
            "models[0].positive_label: expected a number, text or boolean, got null",
        ),
        ("fairness: null\n", "models[0].fairness: expected a mapping, got null"),
        ("expectations: {}\n", "models[0].expectations: expected a list, got a mapping"),
    ],
)
def test_entry_errors(tmp_path, extra, expected):
    assert_rejected(entry_with(tmp_path, extra), expected)


def test_match_not_text(tmp_path):
    path = write(tmp_path / "govern.yaml", "version: 1\nmodels:\n  - match: 3\n")
    assert_rejected(path, "models[0].match: expected non-empty text, got int")


def test_match_list_is_not_text(tmp_path):
    path = write(tmp_path / "govern.yaml", "version: 1\nmodels:\n  - match: [a, b]\n")
    assert_rejected(path, "models[0].match: expected non-empty text, got a list")


def test_second_entry_error_names_its_index(tmp_path):
    path = write(
        tmp_path / "govern.yaml",
        f"version: 1\nmodels:\n  - match: a\n    {CHECKS}\n  - match: b\n    lable: y\n",
    )
    assert_rejected(path, "models[1]: unknown key 'lable' (did you mean 'label'?;")


# --- fairness -------------------------------------------------------------------------------------

DPR = "models[0].fairness.thresholds.demographic_parity_ratio"


def fairness(tmp_path: Path, body: str) -> Path:
    return entry_with(tmp_path, "fairness:\n" + textwrap.indent(textwrap.dedent(body), "  "))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "min_group: 30\n",
            "models[0].fairness: unknown key 'min_group' (did you mean 'min_group_size'?; "
            "allowed: data, metrics, min_group_size, not_applicable, thresholds)",
        ),
        (
            "min_group_size: 0\n",
            "models[0].fairness.min_group_size: expected a whole number >= 1, ",
        ),
        ("min_group_size: -1\n", "models[0].fairness.min_group_size: expected a whole number >= 1"),
        ("min_group_size: 1.5\n", "models[0].fairness.min_group_size: expected a whole number >= "),
        ("min_group_size: true\n", "models[0].fairness.min_group_size: expected a whole number >="),
        ("min_group_size: '30'\n", "models[0].fairness.min_group_size: expected a whole number >="),
        ("metrics: selection_rate\n", "models[0].fairness.metrics: expected a list of text, got "),
        (
            "metrics: [selection_rat]\n",
            "models[0].fairness.metrics[0]: unknown metric 'selection_rat' (did you mean "
            "'selection_rate'?)",
        ),
        ("metrics: [roc_auc_score]\n", "models[0].fairness.metrics[0]: unknown metric 'roc_auc_"),
        (
            "metrics: [selection_rate, selection_rate]\n",
            "models[0].fairness.metrics[1]: 'selection_rate' is listed twice (first at [0])",
        ),
        ("thresholds: [a]\n", "models[0].fairness.thresholds: expected a mapping, got a list"),
        (
            "thresholds: {demographic_parity_ration: {min: 0.8}}\n",
            "models[0].fairness.thresholds.demographic_parity_ration: unknown disparity "
            "'demographic_parity_ration' (did you mean 'demographic_parity_ratio'?)",
        ),
        (
            "thresholds: {demographic_parity_ratio: {minimum: 0.8}}\n",
            f"{DPR}: unknown key 'minimum' (did you mean 'min'?; allowed: max, min)",
        ),
        (
            "thresholds: {demographic_parity_ratio: {min: .nan}}\n",
            f"{DPR}.min: expected a finite number, got nan",
        ),
        (
            "thresholds: {demographic_parity_ratio: {min: .inf}}\n",
            f"{DPR}.min: expected a finite number, got inf",
        ),
        (
            "thresholds: {demographic_parity_ratio: {max: -.inf}}\n",
            f"{DPR}.max: expected a finite number, got -inf",
        ),
        (
            "thresholds: {demographic_parity_ratio: {min: -0.1}}\n",
            f"{DPR}.min: must be between 0 and 1 (every supported disparity is), got -0.1",
        ),
        (
            "thresholds: {demographic_parity_ratio: {max: 1.5}}\n",
            f"{DPR}.max: must be between 0 and 1 (every supported disparity is), got 1.5",
        ),
        (
            "thresholds: {demographic_parity_ratio: {min: 0.9, max: 0.5}}\n",
            f"{DPR}: min 0.9 is greater than max 0.5",
        ),
        (
            "thresholds: {demographic_parity_ratio: {}}\n",
            f"{DPR}: a threshold needs 'min', 'max' or both",
        ),
        (
            "thresholds: {demographic_parity_ratio: null}\n",
            f"{DPR}: expected a mapping, got null",
        ),
        (
            "thresholds: {demographic_parity_ratio: 0.8}\n",
            f"{DPR}: expected a mapping, got float",
        ),
        ("thresholds: {demographic_parity_ratio: {min: '0.8'}}\n", f"{DPR}.min: expected a number"),
        (
            "thresholds: {demographic_parity_ratio: {min: true}}\n",
            f"{DPR}.min: expected a number, got a boolean",
        ),
        (
            "thresholds: {demographic_parity_ratio: {min: 0}}\n",
            f"{DPR}: these bounds allow every value from 0 to 1: the check could never fail",
        ),
        (
            "thresholds: {demographic_parity_ratio: {min: 0, max: 1}}\n",
            f"{DPR}: these bounds allow every value from 0 to 1",
        ),
        (
            "thresholds: {equalized_odds_difference: {max: 1}}\n",
            "models[0].fairness.thresholds.equalized_odds_difference: these bounds allow every",
        ),
    ],
)
def test_fairness_errors(tmp_path, body, expected):
    assert_rejected(fairness(tmp_path, body), expected)


@pytest.mark.parametrize(("written", "shown"), [("0", "0"), ("-1", "-1"), ("1.5", "1.5")])
def test_min_group_size_message_shows_the_value(tmp_path, written, shown):
    path = fairness(tmp_path, f"min_group_size: {written}\n")
    assert rejected(path).endswith(f"expected a whole number >= 1, got {shown}")


def test_boundary_thresholds_are_accepted(tmp_path):
    path = fairness(
        tmp_path,
        """\
        thresholds:
          demographic_parity_ratio: {min: 1}
          equalized_odds_difference: {max: 0}
          selection_rate_difference: {min: 0, max: 0.2}
        """,
    )
    thresholds = load_policy(path).entries[0].fairness.thresholds
    assert thresholds == {
        "demographic_parity_ratio": Threshold(min=1.0),
        "equalized_odds_difference": Threshold(max=0.0),
        "selection_rate_difference": Threshold(min=0.0, max=0.2),
    }


# --- expectations ---------------------------------------------------------------------------------


def expectations(tmp_path: Path, body: str) -> Path:
    return entry_with(tmp_path, "expectations:\n" + textwrap.indent(textwrap.dedent(body), "  "))


E0 = "models[0].expectations[0]"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "- type: expect_column_values_to_be_betwen\n  kwargs: {column: age, min_value: 18}\n",
            f"{E0}: unknown expectation type 'expect_column_values_to_be_betwen' (did you mean "
            "'expect_column_values_to_be_between'?)",
        ),
        (
            "- kwargs: {column: age}\n",
            f"{E0}: missing 'type' (the Great Expectations expectation, snake_case)",
        ),
        ("- type: 3\n", f"{E0}.type: expected non-empty text, got int"),
        ("- expect_column_to_exist\n", f"{E0}: expected a mapping, got text"),
        (
            "- type: expect_column_to_exist\n  kwarg: {column: a}\n",
            f"{E0}: unknown key 'kwarg' (did you mean 'kwargs'?; allowed: for_each_column, "
            "kwargs, type)",
        ),
        (
            "- type: expect_column_to_exist\n  kwargs: [a]\n",
            f"{E0}.kwargs: expected a mapping, got a list",
        ),
        (
            "- type: expect_column_values_to_be_between\n  kwargs: {column: age, min_value: abc}\n",
            f"{E0}: expectation 'expect_column_values_to_be_between': invalid value for "
            "'min_value': 'abc'",
        ),
        (
            "- type: expect_column_values_to_be_between\n  kwargs: {column: 3, min_value: 1}\n",
            f"{E0}: expectation 'expect_column_values_to_be_between': invalid value for "
            "'column': 3",
        ),
        (
            "- type: expect_column_values_to_be_between\n  kwargs: {column: age, min: 1}\n",
            f"{E0}: expectation 'expect_column_values_to_be_between': unknown argument 'min'",
        ),
        (
            "- type: expect_column_values_to_be_in_set\n  kwargs: {column: a, value_set: 3}\n",
            f"{E0}: expectation 'expect_column_values_to_be_in_set': invalid value for "
            "'value_set': 3",
        ),
        (
            "- type: expect_column_values_to_not_be_null\n  kwargs: {column: $column}\n",
            f"{E0}.kwargs: '$column' is only allowed with for_each_column",
        ),
        (
            "- type: expect_column_values_to_not_be_null\n"
            "  for_each_column: [$label]\n"
            "  kwargs: {column: age}\n",
            f"{E0}.kwargs: for_each_column needs '$column' in kwargs, or every column would "
            "get the same check",
        ),
        (
            "- type: expect_column_values_to_not_be_null\n"
            "  for_each_column: []\n"
            "  kwargs: {column: $column}\n",
            f"{E0}.for_each_column: expected at least one column or placeholder",
        ),
        (
            "- type: expect_column_values_to_not_be_null\n"
            "  for_each_column: $label\n"
            "  kwargs: {column: $column}\n",
            f"{E0}.for_each_column: expected a list of text, got text",
        ),
        (
            "- type: expect_column_values_to_not_be_null\n"
            "  for_each_column: [$label, sex, $label]\n"
            "  kwargs: {column: $column}\n",
            f"{E0}.for_each_column[2]: '$label' is listed twice (first at [0])",
        ),
        (
            "- type: expect_column_values_to_not_be_null\n"
            "  for_each_column: [$label, $column]\n"
            "  kwargs: {column: $column}\n",
            f"{E0}.for_each_column[1]: '$column' stands for each of these, not one of them",
        ),
        (
            "- type: expect_column_values_to_not_be_null\n"
            "  for_each_column: [$sensitive_feature]\n"
            "  kwargs: {column: $column}\n",
            f"{E0}.for_each_column[0]: unknown placeholder '$sensitive_feature' (did you mean "
            "'$sensitive_features'?)",
        ),
        (
            "- type: expect_column_values_to_not_be_null\n  kwargs: {column: $lable}\n",
            f"{E0}.kwargs.column: unknown placeholder '$lable' (did you mean '$label'?) "
            "(placeholders: $label, $sensitive_features, $all_columns, $column; write "
            "'$$lable' for the literal text '$lable')",
        ),
        (
            "- type: expect_compound_columns_to_be_unique\n"
            "  kwargs: {column_list: [$label, $all_column]}\n",
            f"{E0}.kwargs.column_list[1]: unknown placeholder '$all_column'",
        ),
        (
            "- type: expect_column_values_to_be_between\n"
            "  kwargs: {column: $label, min_value: 1, max_value: 0}\n",
            f"{E0}: expectation 'expect_column_values_to_be_between': min_value 1 is greater "
            "than max_value 0",
        ),
    ],
)
def test_expectation_errors(tmp_path, body, expected):
    assert_rejected(expectations(tmp_path, body), expected)


def test_second_expectation_error_names_its_index(tmp_path):
    path = expectations(
        tmp_path,
        """\
        - type: expect_column_to_exist
          kwargs: {column: age}
        - type: expect_column_to_exsit
          kwargs: {column: age}
        """,
    )
    assert_rejected(path, "models[0].expectations[1]: unknown expectation type")


def test_literal_dollar_values_are_not_placeholders(tmp_path):
    path = expectations(
        tmp_path,
        """\
        - type: expect_column_values_to_match_regex
          kwargs: {column: price, regex: "^[0-9]+$"}
        - type: expect_column_values_to_be_in_set
          kwargs: {column: currency, value_set: ["$", "$5", "US$"]}
        """,
    )
    templates = load_policy(path).entries[0].expectations
    assert templates[1].kwargs["value_set"] == ["$", "$5", "US$"]


# --- packs ----------------------------------------------------------------------------------------


def test_unknown_pack_suggests_and_lists_builtins(tmp_path):
    path = entry_with(tmp_path, "packs: [four-fifth]\n")
    assert set(BUILTINS) >= {"baseline", "four-fifths", "equalized-odds"}
    assert_rejected(
        path,
        "models[0].packs[0]: unknown pack 'four-fifth' (did you mean 'four-fifths'?) "
        f"(built in: {', '.join(BUILTINS)}; or give a path to a pack file)",
    )


def test_pack_path_that_does_not_exist(tmp_path):
    path = entry_with(tmp_path, "packs: [packs/nope.yaml]\n")
    nope = tmp_path.resolve() / "packs" / "nope.yaml"
    assert_rejected(path, f"models[0].packs[0]: pack file {nope} not found")


def test_pack_path_that_is_a_folder(tmp_path):
    (tmp_path / "packs").mkdir()
    path = entry_with(tmp_path, "packs: [packs/]\n")
    folder = tmp_path.resolve() / "packs"
    assert_rejected(path, f"models[0].packs[0]: pack file {folder} is a folder, not a file")


def pack_policy(tmp_path: Path, pack_text: str, name: str = "mine.yaml") -> tuple[Path, Path]:
    pack = write(tmp_path / "packs" / name, pack_text)
    policy = entry_with(tmp_path, f"packs: [packs/{name}, baseline, four-fifths]\n")
    return policy, pack.resolve()


def test_pack_with_bad_yaml_names_the_pack(tmp_path):
    policy, pack = pack_policy(tmp_path, "name: mine\nexpectations: [\n")
    assert rejected(policy) == (
        f"pack {pack}: invalid YAML at line 3, column 1: expected the node content, but found "
        "'<stream end>'"
    )


def test_pack_with_duplicate_key_names_the_pack(tmp_path):
    policy, pack = pack_policy(tmp_path, "name: mine\nsource: a\nsource: b\n")
    assert (
        rejected(policy) == f"pack {pack}: invalid YAML at line 3, column 1: duplicate key 'source'"
    )


@pytest.mark.parametrize(
    ("pack_text", "expected"),
    [
        (
            "name: mine\nexpectation: []\n",
            "unknown key 'expectation' (did you mean 'expectations'?; allowed: description, "
            "expectations, fairness, name, source)",
        ),
        (
            "name: mine\nexpectations:\n  - type: expect_column_values_to_be_betwen\n"
            "    kwargs: {column: a, min_value: 1}\n",
            "expectations[0]: unknown expectation type 'expect_column_values_to_be_betwen' "
            "(did you mean 'expect_column_values_to_be_between'?)",
        ),
        (
            "name: mine\nexpectations:\n  - type: expect_column_to_exist\n"
            "    kwargs: {column: $column}\n",
            "expectations[0].kwargs: '$column' is only allowed with for_each_column",
        ),
        (
            "name: mine\nfairness: {thresholds: {demographic_parity_ratio: {min: 2}}}\n",
            "fairness.thresholds.demographic_parity_ratio.min: must be between 0 and 1",
        ),
        ("[a, b]\n", "expected a mapping, got a list"),
        ("name: mine\ndescription: [a]\n", "description: expected text"),
        ("name: mine\nsource: 3\n", "source: expected text"),
        ("name: ''\n", "name: expected non-empty text, got an empty string"),
        (
            "name: other\n",
            "name: 'other' differs from the file name 'mine.yaml': a pack is named after its file",
        ),
        ("", "the file is empty"),
    ],
)
def test_invalid_pack_file_names_the_pack_and_key(tmp_path, pack_text, expected):
    policy, pack = pack_policy(tmp_path, pack_text)
    message = rejected(policy)
    assert message.startswith(f"{pack}: "), message
    assert f"{pack}: {expected}" in message, message


def test_pack_without_name_is_named_after_its_file(tmp_path):
    policy, pack = pack_policy(
        tmp_path,
        "description: d\nfairness: {thresholds: {demographic_parity_ratio: {min: 0.9}}}\n",
    )
    loaded = load_policy(policy).entries[0].packs[0]
    assert loaded.name == "mine"
    assert loaded.path == str(pack)
    assert loaded.description == "d" and loaded.source == ""
    assert loaded.sha256 == hashlib.sha256(pack.read_bytes()).hexdigest()


def test_user_pack_cannot_take_a_builtin_name(tmp_path):
    policy, pack = pack_policy(tmp_path, "name: baseline\n", name="baseline.yaml")
    assert_rejected(
        policy,
        f"models[0].packs[0]: pack {pack} is named 'baseline' like the built-in pack; rename "
        "the file",
    )


def test_builtin_named_by_its_path_is_the_builtin(tmp_path):
    builtin = (checks_dir() / "baseline.yaml").resolve()
    path = entry_with(tmp_path, f"packs: ['{builtin}', four-fifths]\n")
    pack = load_policy(path).entries[0].packs[0]
    assert pack.name == "baseline" and pack.path == str(builtin)


def test_same_pack_twice_in_one_entry_is_rejected(tmp_path):
    write(tmp_path / "packs" / "mine.yaml", "name: mine\n")
    path = entry_with(tmp_path, "packs: [packs/mine.yaml, ./packs/mine.yaml]\n")
    assert_rejected(path, "models[0].packs[1]: pack 'mine' is already listed at packs[0]")


def test_builtin_by_name_and_by_path_in_one_entry_is_rejected(tmp_path):
    builtin = (checks_dir() / "four-fifths.yaml").resolve()
    path = entry_with(tmp_path, f"packs: [four-fifths, '{builtin}']\n")
    assert_rejected(path, "models[0].packs[1]: pack 'four-fifths' is already listed at packs[0]")


def test_two_files_with_one_name_are_rejected_across_entries(tmp_path):
    first = write(tmp_path / "a" / "mine.yaml", "name: mine\n").resolve()
    second = write(tmp_path / "b" / "mine.yaml", "name: mine\n").resolve()
    path = write(
        tmp_path / "govern.yaml",
        """\
        version: 1
        models:
          - match: credit-*
            packs: [a/mine.yaml, baseline, four-fifths]
          - match: loan-*
            packs: [b/mine.yaml, baseline, four-fifths]
        """,
    )
    assert_rejected(
        path,
        f"models[1].packs[0]: pack {second} is named 'mine' like {first}; pack names must be "
        "unique in a policy",
    )


def test_one_pack_shared_by_entries_is_loaded_once(tmp_path):
    write(tmp_path / "packs" / "mine.yaml", "name: mine\n")
    path = write(
        tmp_path / "govern.yaml",
        """\
        version: 1
        models:
          - match: credit-*
            packs: [packs/mine.yaml, baseline, four-fifths]
          - match: loan-*
            packs: [./packs/mine.yaml, baseline, four-fifths]
        """,
    )
    first, second = load_policy(path).entries
    assert first.packs[0] is second.packs[0]
    assert first.packs[1] is second.packs[1]


def test_a_symlinked_pack_is_named_after_the_link(tmp_path):
    target = write(tmp_path / "packs" / "lending-v3.yaml", "name: current\n")
    (tmp_path / "packs" / "current.yaml").symlink_to(target.name)
    path = entry_with(tmp_path, "packs: [packs/current.yaml, baseline, four-fifths]\n")
    pack = load_policy(path).entries[0].packs[0]
    assert pack.name == "current"
    assert pack.path == str(tmp_path.resolve() / "packs" / "current.yaml")
    assert pack.sha256 == hashlib.sha256(target.read_bytes()).hexdigest()


def test_a_pack_path_with_dot_dot_is_shown_normalised(tmp_path):
    write(tmp_path / "shared" / "mine.yaml", "name: mine\n")
    path = write(
        tmp_path / "conf" / "govern.yaml",
        BARE_ENTRY + f"    packs: [../shared/mine.yaml, {BUILTINS_AS_LIST}]\n",
    )
    pack = load_policy(path).entries[0].packs[0]
    assert pack.path == str(tmp_path.resolve() / "shared" / "mine.yaml")


def test_pack_paths_are_relative_to_the_policy_file_not_the_cwd(tmp_path):
    write(tmp_path / "conf" / "packs" / "mine.yaml", "name: mine\n")
    path = write(
        tmp_path / "conf" / "govern.yaml",
        BARE_ENTRY + f"    packs: [packs/mine.yaml, {BUILTINS_AS_LIST}]\n",
    )
    pack = load_policy(path).entries[0].packs[0]
    assert pack.path == str((tmp_path / "conf" / "packs" / "mine.yaml").resolve())
    assert not (tmp_path / "packs").exists()


# --- a valid policy -------------------------------------------------------------------------------


def test_example_policy_loads(tmp_path):
    path = write(tmp_path / "govern.yaml", EXAMPLE)
    policy = load_policy(path)
    assert isinstance(policy, Policy)
    assert policy.path == str(path)
    assert policy.audit_experiment == "govern-audits"
    (entry,) = policy.entries
    assert isinstance(entry, ModelPolicy)
    assert entry.index == 0
    assert entry.match == "credit-*"
    assert [p.name for p in entry.packs] == ["baseline", "four-fifths"]
    assert all(isinstance(p, Pack) for p in entry.packs)
    assert entry.label == "default"
    assert entry.positive_label == 1 and type(entry.positive_label) is int
    assert entry.sensitive_features == ("sex", "race")
    assert entry.dataset == "train.parquet"
    assert [t.type for t in entry.expectations] == [
        "expect_column_values_to_be_between",
        "expect_column_values_to_not_be_null",
    ]
    assert entry.expectations[0].kwargs == {"column": "age", "min_value": 18, "max_value": 100}
    assert entry.expectations[0].for_each_column is None
    assert entry.expectations[1].for_each_column == ("$label", "$sensitive_features")
    assert entry.expectations[1].origin == "policy models[0].expectations[1]"
    assert entry.fairness.min_group_size == 30
    assert entry.fairness.metrics == ("selection_rate", "true_positive_rate", "false_positive_rate")
    assert entry.fairness.thresholds == {
        "demographic_parity_ratio": Threshold(min=0.8),
        "equalized_odds_difference": Threshold(max=0.1),
    }


def test_hash_and_text_are_of_the_exact_bytes(tmp_path):
    path = write(tmp_path / "govern.yaml", EXAMPLE)
    policy = load_policy(path)
    raw = path.read_bytes()
    assert policy.sha256 == hashlib.sha256(raw).hexdigest()
    assert policy.text == raw.decode("utf-8")
    path.write_bytes(raw + b"# a comment changes the hash\n")
    assert load_policy(path).sha256 != policy.sha256


def test_packs_sha256_are_of_the_pack_files(tmp_path):
    policy = load_policy(write(tmp_path / "govern.yaml", EXAMPLE))
    assert policy.packs_sha256() == {
        name: hashlib.sha256((checks_dir() / f"{name}.yaml").read_bytes()).hexdigest()
        for name in ("baseline", "four-fifths")
    }


def test_defaults_when_optional_keys_are_absent(tmp_path):
    policy = load_policy(write(tmp_path / "govern.yaml", ENTRY))
    assert policy.audit_experiment == DEFAULT_AUDIT_EXPERIMENT == "govern-audits"
    (entry,) = policy.entries
    assert entry.expectations == ()
    assert entry.label is None and entry.positive_label is None
    assert entry.sensitive_features is None and entry.dataset is None
    spec = entry.fairness_spec()
    assert spec.min_group_size == DEFAULT_MIN_GROUP_SIZE == 30
    assert spec.data is None and spec.not_applicable is None


def test_null_kwargs_mean_no_arguments(tmp_path):
    path = expectations(tmp_path, "- type: expect_table_row_count_to_be_between\n  kwargs:\n")
    assert_rejected(path, f"{E0}: expectation 'expect_table_row_count_to_be_between': give ")


def test_first_match_wins(tmp_path):
    path = write(
        tmp_path / "govern.yaml",
        """\
        version: 1
        models:
          - match: credit-special
            packs: [baseline, four-fifths]
            label: a
          - match: credit-*
            packs: [baseline, four-fifths]
            label: b
          - match: "*"
            packs: [baseline, four-fifths]
            label: c
        """,
    )
    policy = load_policy(path)
    assert [e.match for e in policy.entries] == ["credit-special", "credit-*", "*"]
    assert [e.index for e in policy.entries] == [0, 1, 2]
    chosen = {
        name: policy.for_model(name).label  # type: ignore[union-attr]
        for name in ("credit-special", "credit-x", "Credit-x", "churn", "credit-special-2")
    }
    assert chosen == {
        "credit-special": "a",
        "credit-x": "b",
        "Credit-x": "c",  # globs are case-sensitive, as MLflow names are
        "churn": "c",
        "credit-special-2": "b",
    }


def test_for_model_is_none_when_nothing_matches(tmp_path):
    path = write(
        tmp_path / "govern.yaml",
        f"version: 1\nmodels: [{{match: credit-*, {CHECKS}}}, {{match: 'l?an', {CHECKS}}}]\n",
    )
    policy = load_policy(path)
    assert policy.for_model("churn") is None
    assert policy.for_model("credit") is None
    assert policy.for_model("loan").index == 1  # type: ignore[union-attr]
    assert policy.for_model("lean").index == 1  # type: ignore[union-attr]


def test_fairness_spec_merges_packs_then_entry(tmp_path):
    write(
        tmp_path / "strict.yaml",
        """\
        name: strict
        fairness:
          min_group_size: 50
          metrics: [accuracy_score, selection_rate]
          thresholds:
            demographic_parity_ratio: {min: 0.9}
            accuracy_score_difference: {max: 0.05}
        """,
    )
    path = entry_with(
        tmp_path,
        """\
        packs: [four-fifths, strict.yaml, equalized-odds, baseline]
        fairness:
          metrics: [false_negative_rate, selection_rate]
          thresholds:
            equalized_odds_difference: {max: 0.2}
        """,
    )
    spec = load_policy(path).entries[0].fairness_spec()
    assert spec.min_group_size == 50  # the pack's, as the entry does not say
    assert spec.metrics == (
        "selection_rate",
        "accuracy_score",
        "true_positive_rate",
        "false_positive_rate",
        "false_negative_rate",
    )
    assert dict(spec.thresholds) == {
        "demographic_parity_ratio": Threshold(min=0.9),  # strict.yaml overrides four-fifths
        "accuracy_score_difference": Threshold(max=0.05),
        "equalized_odds_difference": Threshold(max=0.2),  # the entry overrides equalized-odds
    }


def test_entry_min_group_size_overrides_packs(tmp_path):
    write(tmp_path / "big.yaml", "name: big\nfairness: {min_group_size: 50}\n")
    path = entry_with(
        tmp_path, f"packs: [big.yaml, {BUILTINS_AS_LIST}]\nfairness: {{min_group_size: 10}}\n"
    )
    assert load_policy(path).entries[0].fairness_spec().min_group_size == 10


def test_entry_threshold_replaces_the_packs_bounds_whole(tmp_path):
    path = entry_with(
        tmp_path,
        "packs: [four-fifths, baseline]\n"
        "fairness: {thresholds: {demographic_parity_ratio: {max: 0.95}}}\n",
    )
    spec = load_policy(path).entries[0].fairness_spec()
    assert spec.thresholds["demographic_parity_ratio"] == Threshold(max=0.95)
    assert spec.min_group_size == 30


def test_expectation_templates_are_packs_then_entry(tmp_path):
    path = write(tmp_path / "govern.yaml", EXAMPLE)
    entry = load_policy(path).entries[0]
    baseline = entry.packs[0]
    assert entry.expectation_templates() == baseline.expectations + entry.expectations
    assert [t.origin for t in baseline.expectations] == [
        f"pack baseline expectations[{i}]" for i in range(len(baseline.expectations))
    ]


# --- resolve_expectations -------------------------------------------------------------------------


def test_resolve_expands_the_example(tmp_path):
    entry = load_policy(write(tmp_path / "govern.yaml", EXAMPLE)).entries[0]
    columns = ["age", "sex", "race", "income", "default"]
    specs = resolve_expectations(
        entry, label="default", sensitive_features=["sex", "race"], columns=columns
    )
    got = [(s.type, dict(s.kwargs)) for s in specs]
    assert got == [
        ("expect_table_row_count_to_be_between", {"min_value": 1}),
        ("expect_column_to_exist", {"column": "default"}),
        ("expect_column_to_exist", {"column": "sex"}),
        ("expect_column_to_exist", {"column": "race"}),
        ("expect_column_values_to_not_be_null", {"column": "default"}),
        ("expect_column_values_to_not_be_null", {"column": "sex"}),
        ("expect_column_values_to_not_be_null", {"column": "race"}),
        ("expect_compound_columns_to_be_unique", {"column_list": columns, "mostly": 0.99}),
        (
            "expect_column_values_to_be_between",
            {"column": "age", "min_value": 18, "max_value": 100},
        ),
        ("expect_column_values_to_not_be_null", {"column": "default"}),
        ("expect_column_values_to_not_be_null", {"column": "sex"}),
        ("expect_column_values_to_not_be_null", {"column": "race"}),
    ]
    assert specs[0].origin == "pack baseline expectations[0]"
    assert specs[-1].origin == "policy models[0].expectations[1]"
    for spec in specs:
        validate_expectation(spec.type, spec.kwargs)  # what is resolved is valid GX


def test_for_each_column_does_not_repeat_a_column(tmp_path):
    path = expectations(
        tmp_path,
        """\
        - type: expect_column_values_to_not_be_null
          for_each_column: [$label, $sensitive_features, sex]
          kwargs: {column: $column}
        """,
    )
    entry = load_policy(path).entries[0]
    # the label is also a sensitive feature here, and sex is also named literally
    specs = resolve_expectations(
        entry, label="sex", sensitive_features=["sex", "race"], columns=["sex", "race"]
    )
    assert [s.kwargs["column"] for s in specs] == ["sex", "race"]


def test_for_each_column_over_all_columns_and_nothing(tmp_path):
    path = expectations(
        tmp_path,
        """\
        - type: expect_column_values_to_not_be_null
          for_each_column: [$all_columns]
          kwargs: {column: $column, mostly: 0.5}
        - type: expect_column_to_exist
          for_each_column: [$sensitive_features]
          kwargs: {column: $column}
        """,
    )
    entry = load_policy(path).entries[0]
    specs = resolve_expectations(entry, label="y", sensitive_features=[], columns=["a", "b", "y"])
    assert [dict(s.kwargs) for s in specs] == [
        {"column": "a", "mostly": 0.5},
        {"column": "b", "mostly": 0.5},
        {"column": "y", "mostly": 0.5},
    ]


def test_placeholders_splice_into_lists_and_escape_with_double_dollar(tmp_path):
    path = expectations(
        tmp_path,
        """\
        - type: expect_compound_columns_to_be_unique
          kwargs: {column_list: [$label, $sensitive_features, id]}
        - type: expect_table_columns_to_match_set
          kwargs: {column_set: $all_columns}
        - type: expect_column_values_to_be_in_set
          kwargs: {column: $label, value_set: [$$label, $$, $$$label, plain]}
        """,
    )
    entry = load_policy(path).entries[0]
    specs = resolve_expectations(
        entry, label="income", sensitive_features=["sex", "race"], columns=["id", "income"]
    )
    assert [dict(s.kwargs) for s in specs] == [
        {"column_list": ["income", "sex", "race", "id"]},
        {"column_set": ["id", "income"]},
        {"column": "income", "value_set": ["$label", "$", "$$label", "plain"]},
    ]


def test_resolving_does_not_change_the_templates(tmp_path):
    entry = load_policy(write(tmp_path / "govern.yaml", EXAMPLE)).entries[0]
    before = [dict(t.kwargs) for t in entry.expectation_templates()]
    resolve_expectations(entry, label="a", sensitive_features=["b"], columns=["a", "b"])
    resolve_expectations(entry, label="x", sensitive_features=["y"], columns=["x", "y"])
    assert [dict(t.kwargs) for t in entry.expectation_templates()] == before
    assert entry.expectations[1].kwargs == {"column": "$column"}


# --- the built-in packs ---------------------------------------------------------------------------


def test_the_documented_builtins_exist():
    assert {"baseline", "four-fifths", "equalized-odds"} <= set(BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_pack_loads_and_is_documented(tmp_path, name):
    others = [b for b in ("baseline", "four-fifths") if b != name]
    path = entry_with(tmp_path, f"packs: [{', '.join([name, *others])}]\n")
    pack = load_policy(path).entries[0].packs[0]
    assert pack.name == name
    assert pack.path == str((checks_dir() / f"{name}.yaml").resolve())
    assert pack.description.strip() and "\n" not in pack.description.strip()
    assert pack.source.strip()
    assert pack.expectations or pack.fairness.thresholds or pack.fairness.metrics
    assert pack.sha256 == hashlib.sha256(Path(pack.path).read_bytes()).hexdigest()
    assert pack.text == Path(pack.path).read_text(encoding="utf-8")


def test_builtin_fairness_packs_say_what_their_description_says(tmp_path):
    path = entry_with(tmp_path, "packs: [four-fifths, equalized-odds, baseline]\n")
    spec = load_policy(path).entries[0].fairness_spec()
    assert spec.thresholds["demographic_parity_ratio"] == Threshold(min=0.8)
    assert spec.thresholds["equalized_odds_difference"] == Threshold(max=0.1)


def test_all_builtins_together_in_one_entry(tmp_path):
    path = entry_with(tmp_path, f"packs: [{', '.join(BUILTINS)}]\n")
    assert [p.name for p in load_policy(path).entries[0].packs] == BUILTINS


def test_loading_a_policy_imports_no_heavy_library(tmp_path):
    """A fully reused nightly run only loads the policy: it must not pay for GX (seconds)."""
    import subprocess
    import sys

    path = write(tmp_path / "govern.yaml", EXAMPLE)
    code = (
        "import sys\n"
        "from govern.config.policy import load_policy\n"
        f"policy = load_policy({str(path)!r})\n"
        "assert policy.entries[0].expectation_templates()\n"
        "heavy = ['great_expectations', 'mlflow', 'fairlearn', 'pandas', 'pydantic', 'numpy']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_argument_gx_would_reject_is_refused_on_load_without_gx(tmp_path):
    path = expectations(
        tmp_path,
        "- type: expect_column_values_to_be_between\n"
        "  kwargs: {column: a, min_value: 1, mostly: 2}\n",
    )
    assert_rejected(
        path,
        f"{E0}: expectation 'expect_column_values_to_be_between': invalid value for 'mostly': 2",
    )


def test_contexts_default_to_what_mlflow_users_log_and_can_be_replaced(tmp_path):
    default = load_policy(write(tmp_path / "a.yaml", ENTRY)).entries[0]
    assert default.training_contexts == ("training", "train")
    assert default.evaluation_contexts == ("evaluation", "eval", "validation", "test")
    path = entry_with(tmp_path, "dataset_context: [fit]\nevaluation_context: [holdout]\n")
    custom = load_policy(path).entries[0]
    assert custom.training_contexts == ("fit",)
    assert custom.evaluation_contexts == ("holdout",)


def test_fairness_data_is_evaluation_or_training(tmp_path):
    assert_rejected(
        entry_with(tmp_path, "fairness: {data: holdout}\n"),
        "models[0].fairness.data: expected evaluation or training, got 'holdout'",
    )
    spec = load_policy(entry_with(tmp_path, "fairness: {data: training}\n")).entries[0]
    assert spec.fairness_spec().data == "training"
    assert load_policy(write(tmp_path / "b.yaml", ENTRY)).entries[0].fairness_spec().data is None


def test_integrity_require_names_a_proof(tmp_path):
    assert load_policy(write(tmp_path / "a.yaml", ENTRY)).entries[0].integrity_require == "pinned"
    path = entry_with(tmp_path, "integrity: {require: training-hash}\n")
    assert load_policy(path).entries[0].integrity_require == "training-hash"
    assert_rejected(
        entry_with(tmp_path, "integrity: {require: sha}\n"),
        "models[0].integrity.require: expected one of training-hash, pinned, mlflow-digest, "
        "got 'sha'",
    )
    assert_rejected(
        entry_with(tmp_path, "integrity: {}\n"),
        "models[0].integrity: missing 'require'",
    )


def test_model_env_is_strict_or_warn(tmp_path):
    assert load_policy(write(tmp_path / "a.yaml", ENTRY)).entries[0].model_env == "warn"
    assert load_policy(entry_with(tmp_path, "model_env: strict\n")).entries[0].model_env == "strict"
    assert_rejected(
        entry_with(tmp_path, "model_env: lax\n"),
        "models[0].model_env: expected strict or warn, got 'lax'",
    )


# --- an entry must check something ------------------------------------------------------------


def test_an_entry_with_only_its_glob_is_rejected(tmp_path):
    path = write(tmp_path / "govern.yaml", BARE_ENTRY + "    label: y\n")
    assert rejected(path) == (
        f"{path}: models[0]: checks no data quality: add 'packs' (e.g. [baseline]) or "
        "'expectations'"
    )


def test_an_entry_without_a_fairness_threshold_is_rejected(tmp_path):
    expected = (
        "models[0]: sets no fairness threshold: add a fairness pack (e.g. four-fifths), "
        "'fairness: {thresholds: ...}', or 'fairness: {not_applicable: <reason>}'"
    )
    assert_rejected(entry_with(tmp_path, "packs: [baseline]\n"), expected)
    # Metrics alone are reported, never judged: still nothing that can fail.
    metrics_only = "packs: [baseline]\nfairness: {metrics: [selection_rate]}\n"
    assert_rejected(entry_with(tmp_path, metrics_only), expected)


def test_fairness_not_applicable_needs_a_reason_and_nothing_else(tmp_path):
    reason = "scores machines, not people: no person is affected by a decision"
    path = entry_with(tmp_path, f"packs: [baseline]\nfairness: {{not_applicable: '{reason}'}}\n")
    spec = load_policy(path).entries[0].fairness_spec()
    assert spec.not_applicable == reason and dict(spec.thresholds) == {}
    assert_rejected(
        entry_with(tmp_path, "packs: [baseline]\nfairness: {not_applicable: '  '}\n"),
        "models[0].fairness.not_applicable: expected non-empty text, got an empty string",
    )
    assert_rejected(
        entry_with(
            tmp_path, "packs: [baseline]\nfairness: {not_applicable: why, min_group_size: 5}\n"
        ),
        "models[0].fairness.not_applicable: cannot be combined with 'min_group_size': fairness "
        "either applies or it does not",
    )
    assert_rejected(
        entry_with(tmp_path, "packs: [baseline, four-fifths]\nfairness: {not_applicable: why}\n"),
        "models[0].fairness.not_applicable: pack 'four-fifths' sets fairness checks for this "
        "entry; remove it or the not_applicable reason",
    )


def test_a_pack_cannot_declare_fairness_not_applicable(tmp_path):
    policy, pack = pack_policy(tmp_path, "fairness: {not_applicable: why}\n")
    assert rejected(policy).startswith(f"{pack}: fairness: unknown key 'not_applicable'")


@pytest.mark.parametrize(
    ("expectation", "problem"),
    [
        (
            "{type: expect_column_values_to_not_be_null, kwargs: {column: a, mostly: 0}}",
            "mostly 0 lets every row fail, so the check could never fail",
        ),
        (
            "{type: expect_table_row_count_to_be_between, kwargs: {min_value: 0}}",
            "a count is never below 0, so min_value 0 with no max_value could never fail",
        ),
        (
            "{type: expect_column_proportion_of_non_null_values_to_be_between, "
            "kwargs: {column: a, min_value: 0, max_value: 1}}",
            "a share lies between 0 and 1, so these bounds could never fail",
        ),
    ],
)
def test_vacuous_expectation_arguments_are_rejected(tmp_path, expectation, problem):
    path = entry_with(tmp_path, f"expectations: [{expectation}]\n")
    type_ = expectation.split("type: ", 1)[1].split(",", 1)[0]
    assert_rejected(path, f"models[0].expectations[0]: expectation '{type_}': {problem}")
