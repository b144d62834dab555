"""A compressed day (the demo mesh) scales every rolling window and changes the feature
definition's version; a bad value is refused with the variable named."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SHOW = (
    "import json; from churn_features.domain import FEATURES, FEATURE_VIEW_TTL, "
    "FEATURE_VIEW_VERSION as v; print(json.dumps({'windows': {f.name: "
    "f.window.total_seconds() for f in FEATURES if f.window}, "
    "'ttl': FEATURE_VIEW_TTL.total_seconds(), 'version': v}))"
)


def definition(day_seconds: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MLOPS_DAY_SECONDS"}
    if day_seconds is not None:
        env["MLOPS_DAY_SECONDS"] = day_seconds
    return subprocess.run(
        [sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_compressed_day_scales_every_window_and_the_version() -> None:
    real, compressed = definition(None), definition("4")
    assert real.returncode == compressed.returncode == 0, real.stderr + compressed.stderr
    real_view, compressed_view = json.loads(real.stdout), json.loads(compressed.stdout)
    assert real_view["windows"]["usage_minutes_7d"] == 7 * 86400
    assert compressed_view["windows"]["usage_minutes_7d"] == 7 * 4
    assert compressed_view["ttl"] == 90 * 4
    assert {
        name: seconds / 21600 for name, seconds in real_view["windows"].items()
    } == compressed_view["windows"]
    assert real_view["version"] != compressed_view["version"]


def test_a_bad_day_length_is_refused_with_the_variable_named() -> None:
    for bad in ("0", "abc", "100000", "nan"):
        result = definition(bad)
        assert result.returncode != 0
        assert "MLOPS_DAY_SECONDS" in result.stderr
