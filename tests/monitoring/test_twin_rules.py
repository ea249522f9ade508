"""The twin agreement alert, unit-tested by promtool: quiet while the variants agree, firing
once one variant is replaced by a model that answers differently."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from monitoring_testkit import tool

from tandem.monitoring.prometheus import RULES_FILE, alert_rules

METRIC = "tandem_twin_comparisons_total"


def _series(twin: str, result: str, values: str) -> dict[str, str]:
    labels = f'twin="{twin}",primary="a",shadow="b",result="{result}"'
    return {"series": f"{METRIC}{{{labels}}}", "values": values}


def _tests(objective: float) -> dict[str, object]:
    series = [
        # digits_mlp: 60 agreeing comparisons a minute for 10 minutes; then the shadow is
        # replaced by a different model and 54 of 60 a minute disagree (10%, below any
        # objective the demo declares).
        _series("digits_mlp", "agree", "0+60x10 600+6x20"),
        _series("digits_mlp", "disagree", "0x10 0+54x20"),
        _series("digits_mlp", "error", "0+5x30"),  # missing answers are not disagreements
        # digits_cnn224: 85% agree, above its 78% objective.
        _series("digits_cnn224", "agree", "0+85x30"),
        _series("digits_cnn224", "disagree", "0+15x30"),
    ]
    fired = {
        "exp_labels": {"severity": "warning", "twin": "digits_mlp"},
        "exp_annotations": {
            "summary": (
                f"digits_mlp: its variants agree on fewer than {objective:.0%} of shadowed requests"
            ),
            "description": "agreement over 5m is 10%.",
        },
    }
    return {
        "rule_files": [RULES_FILE],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "10m", "alertname": "TandemTwinAgreementLow", "exp_alerts": []},
                    # the drop is under 5 minutes old: pending, not firing
                    {"eval_time": "14m", "alertname": "TandemTwinAgreementLow", "exp_alerts": []},
                    {
                        "eval_time": "25m",
                        "alertname": "TandemTwinAgreementLow",
                        "exp_alerts": [fired],
                    },
                ],
            }
        ],
    }


def test_agreement_alert_fires_only_below_the_objective(demo_manifest, tmp_path: Path) -> None:
    assert [t.name for t in demo_manifest.twins] == ["digits_mlp", "digits_cnn224"]
    (tmp_path / RULES_FILE).write_text(alert_rules(demo_manifest))
    mlp = demo_manifest.twins[0]
    tests = _tests(mlp.agreement.objective)
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    tested = subprocess.run(
        [tool("promtool"), "test", "rules", "tests.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
