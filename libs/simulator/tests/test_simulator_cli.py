"""The command line: options, token and URL resolution, whole runs against a fake ingest."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator import ManualClock
from simulator.cli import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    RunOptions,
    StopSignal,
    build_parser,
    main,
    options_from_args,
    resolve_ingest_url,
    resolve_token,
    simulate,
)


def options(argv: list[str], environ: dict[str, str] | None = None) -> RunOptions:
    args = build_parser().parse_args(argv)
    return options_from_args(args, environ or {}, wall_time=1_700_000_000)


async def run(
    argv: list[str],
    fake: Any,
    *,
    stop: StopSignal | None = None,
    environ: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await simulate(
        options(argv, environ),
        clock=ManualClock(),
        transport=fake.transport() if fake is not None else None,
        stdout=out,
        stderr=err,
        stop=stop,
        environ=environ if environ is not None else {},
    )
    return code, out.getvalue(), err.getvalue()


def test_help_shows_examples_and_the_drift_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == EXIT_OK
    text = capsys.readouterr().out
    assert text.startswith("usage: mlops simulate")
    for part in (
        "--drift covariate:usage_minutes:-0.4:sudden:after=60s",
        "KIND:FEATURES:MAGNITUDE",
        "--history-days 30",
        "MLOPS_API_TOKEN",
    ):
        assert part in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--drift", "covariate:usage:-0.4"], "unknown feature 'usage'"),
        (["--duration", "60"], "use a number and a unit"),
        (["--customers", "0"], "must be at least 1"),
        (["--churn-rate", "1.5"], "churn_rate must be between 0 and 1"),
        (["--history-days", "-1"], "--history-days cannot be negative"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_phases_follow_the_flags() -> None:
    assert options([]).live
    assert options([]).history_days == 0
    assert not options(["--history-days", "30"]).live
    assert options(["--history-days", "30", "--live"]).live
    assert options(["--history-days", "30", "--duration", "2m"]).duration_s == 120
    assert options(["--rate", "0"]).rate is None
    assert options(["--seed", "7"]).config.run_id == "7-s44we8"  # seed + start time
    assert options(["--run-id", "again"]).config.record_prefix == "sim-again"


def test_token_comes_from_flag_then_environment_then_the_mesh_file(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "api-token").write_text("from-file\n")
    home = {"MLOPS_MESH_HOME": str(tmp_path)}
    assert resolve_token("flag", {**home, "MLOPS_API_TOKEN": "env"}) == "flag"
    assert resolve_token(None, {**home, "MLOPS_API_TOKEN": "env"}) == "env"
    assert resolve_token(None, home) == "from-file"
    assert resolve_token(None, {"MLOPS_MESH_HOME": str(tmp_path / "nowhere")}) is None


def test_ingest_url_comes_from_flag_environment_or_the_mesh_ports() -> None:
    assert resolve_ingest_url("http://x:1", {"MLOPS_INGEST_URL": "http://y:2"}) == "http://x:1"
    assert resolve_ingest_url(None, {"MLOPS_INGEST_URL": "http://y:2"}) == "http://y:2"
    assert resolve_ingest_url(None, {"MLOPS_MESH_BASE_PORT": "9700"}) == "http://127.0.0.1:9701"
    assert resolve_ingest_url(None, {}) == "http://127.0.0.1:8701"


async def test_history_then_live_with_drift_lands_every_record_once(
    fake_ingest: Any, token: str
) -> None:
    code, out, err = await run(
        [
            "--customers", "200", "--seed", "7", "--history-days", "3", "--live",
            "--rate", "100", "--duration", "20s", "--label-delay", "5s", "--token", token,
            "--drift", "covariate:usage_minutes:-0.4:sudden:after=5s",
        ],
        fake_ingest,
    )  # fmt: skip
    assert code == EXIT_OK, err
    sent = [record for request in fake_ingest.requests for record in request]
    assert len(fake_ingest.stored) == len(sent)
    assert sum(r["kind"] == "activity" for r in sent) > 600 + 1500
    assert any(r["kind"] == "label" and r["churned"] for r in sent)
    assert "history" in err
    assert "live" in err
    assert "| covariate:usage_minutes 100%" in err
    # One narration line when the drift starts: 5 s after the first live record (at 0.2 s).
    assert err.count("simulate: drift started:") == 1
    assert "sudden:after=5s at event time 2026-01-01T00:00:05.200Z (activity record 500" in err
    assert "simulate: duration reached after" in out
    assert f"{len(sent):,} accepted, 0 duplicates, 0 rejected" in out
    assert "covariate:usage_minutes:-0.4:sudden:after=5s at 100%" in out


async def test_a_bad_token_fails_with_advice(fake_ingest: Any) -> None:
    code, out, err = await run(["--token", "nope", "--duration", "5s"], fake_ingest)
    assert code == EXIT_FAILED
    assert "ingest refused the API token (401 Unauthorized)" in err
    assert "simulate: failed after" in out


async def test_no_token_anywhere_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = await run(["--duration", "5s"], None, environ={"MLOPS_MESH_HOME": str(tmp_path)})
    assert code == EXIT_USAGE
    assert "no API token" in err
    assert "make up" in err


async def test_no_mesh_says_to_start_it(token: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    class Refusing:
        def transport(self) -> httpx.MockTransport:
            return httpx.MockTransport(refuse)

    code, _, err = await run(["--token", token, "--duration", "5s"], Refusing())
    assert code == EXIT_FAILED
    assert "cannot connect to ingest at http://127.0.0.1:8701 (connection refused)" in err
    assert "`make up`" in err


async def test_rejections_are_shown_early_and_fail_the_run(fake_ingest: Any, token: str) -> None:
    fake_ingest.reject = lambda r: "sessions: too many" if r.get("sessions", 0) > 9 else None
    code, out, err = await run(["--token", token, "--duration", "10s"], fake_ingest)
    assert code == EXIT_FAILED
    assert "ingest rejected records (the valid ones of each batch were accepted)" in err
    assert "sessions: too many" in err
    assert "first rejected records:" in out


async def test_ctrl_c_finishes_the_batch_in_flight_and_prints_the_summary(
    fake_ingest: Any, token: str
) -> None:
    stop = StopSignal()
    fake_ingest.before = lambda n: stop.request() if n == 3 else None
    code, out, _ = await run(["--token", token], fake_ingest, stop=stop)
    assert code == EXIT_INTERRUPTED
    assert len(fake_ingest.requests) == 3  # the third was in flight and still landed
    assert "simulate: interrupted after" in out
    assert f"{len(fake_ingest.stored):,} accepted" in out


async def test_output_writes_json_lines_and_drifts_a_history_only_run(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    code, out, _ = await run(
        [
            "--history-days", "2", "--customers", "50", "--output", str(path),
            "--drift", "covariate:monthly_charges:+1.0:after=1d",
        ],
        None,
    )  # fmt: skip
    assert code == EXIT_OK
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert sum(r["kind"] == "activity" for r in lines) == 100
    first, second = lines[0]["observed_at"], lines[-1]["observed_at"]
    assert first < second
    assert "covariate:monthly_charges:1:sudden:after=1d at 100%" in out


def test_mlops_simulate_delegates_here(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mesh.cli import main as mlops

    path = tmp_path / "out.jsonl"
    argv = ["simulate", "--history-days", "1", "--customers", "3", "--output", str(path)]
    assert mlops(argv) == EXIT_OK
    assert len(path.read_text().splitlines()) >= 3
    assert "simulate: all records sent" in capsys.readouterr().out
