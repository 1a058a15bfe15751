"""JUnit XML: one test suite per version, one test case per check.

Every CI system (GitHub Actions, GitLab, Jenkins, Azure Pipelines) renders JUnit natively, so a
violated threshold shows up where engineers already look at failing tests.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from govern.model.results import AuditRun, VersionResult

# XML 1.0 forbids most control characters; a hostile name must not make the file unparsable.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(text: object) -> str:
    return _INVALID_XML.sub("\ufffd", str(text))


def _fairness_data(version: VersionResult) -> str:
    if version.fairness is None or not version.fairness.data:
        return ""
    data = version.fairness.data
    kind = "in-sample (training data)" if data.get("in_sample") else "held-out"
    return f"{kind}: {data.get('name')} ({data.get('context')}, {data.get('rows')} rows)"


def render_junit(run: AuditRun) -> str:
    suites = ET.Element(
        "testsuites",
        name="govern",
        tests=str(sum(len(v.checks) for v in run.versions)),
        failures=str(sum(1 for v in run.versions for c in v.checks if c.status == "fail")),
        errors=str(sum(1 for v in run.versions for c in v.checks if c.status == "error")),
    )
    for version in run.versions:
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=_x(f"{version.model}/{version.version}"),
            tests=str(len(version.checks)),
            failures=str(sum(1 for c in version.checks if c.status == "fail")),
            errors=str(sum(1 for c in version.checks if c.status == "error")),
            timestamp=_x(version.started_at),
        )
        props = ET.SubElement(suite, "properties")
        for key, value in (
            ("verdict", version.verdict_label),
            ("policy_sha256", run.policy_sha256),
            ("run_id", version.run_id or ""),
            ("report", version.report or ""),
            ("fairness_data", _fairness_data(version)),
            ("waivers", ", ".join(w.id for w in version.waivers)),
        ):
            ET.SubElement(props, "property", name=key, value=_x(value))
        classname = _x(f"govern.{version.model}.v{version.version}")
        for check in version.checks:
            case = ET.SubElement(suite, "testcase", classname=classname, name=_x(check.id))
            if check.status == "fail":
                node = ET.SubElement(case, "failure", message=_x(check.summary), type=check.kind)
                node.text = _x(f"observed: {check.observed}\nthreshold: {check.threshold}")
            elif check.status == "error":
                node = ET.SubElement(case, "error", message=_x(check.summary), type=check.kind)
                node.text = _x(check.summary)
            elif check.status == "waived" and check.waiver is not None:
                # Not a failure, and not a pass either: CI shows the waiver beside the test.
                w = check.waiver
                ticket = f" ({w.ticket})" if w.ticket else ""
                out = ET.SubElement(case, "system-out")
                out.text = _x(
                    f"WAIVED by waiver {w.id}{ticket}: {w.reason}; requested by "
                    f"{w.requested_by}, approved by {w.approved_by}, expires {w.expires}. "
                    f"Failed check: {check.summary}"
                )
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
