"""``mlops simulate`` / ``python -m simulator``: stream a simulated churn business into ingest."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO

import httpx

from simulator.clock import Clock, SystemClock
from simulator.drift import DriftSchedule, DriftSpec
from simulator.durations import format_duration, parse_duration
from simulator.progress import ProgressReporter, format_summary
from simulator.records import format_time
from simulator.simulation import Simulation, SimulationConfig
from simulator.sinks import HttpIngestSink, IngestError, JsonLinesSink, RecordSink
from simulator.streaming import StopAfter, StopReason, StreamStats, stream_records

DEFAULT_INGEST_URL = "http://127.0.0.1:8701"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

_EPILOG = """\
examples:
  # 2,000 customers at 200 records/s for two minutes, labels 30 s after the outcome
  %(prog)s --customers 2000 --rate 200 --duration 120s --seed 7 --label-delay 30s

  # backfill 30 days of history as fast as ingest takes it (e.g. to train a first model)
  %(prog)s --history-days 30 --customers 2000

  # backfill, then stream live; 60 s into the live phase usage drops by 40 %%
  %(prog)s --history-days 14 --live --rate 200 \\
      --drift covariate:usage_minutes:-0.4:sudden:after=60s

  # concept drift, visible only through the delayed labels: contract type stops protecting
  # (and flips) over two minutes, starting after 5,000 activity records
  %(prog)s --rate 300 --duration 10m --label-delay 20s \\
      --drift concept:contract_type:flip:gradual=2m:after=5000rec

  # no ingest needed: write the records as JSON lines
  %(prog)s --history-days 7 --customers 100 --output records.jsonl

drift syntax (repeat --drift for several):
  KIND:FEATURES:MAGNITUDE[:sudden | :gradual[=SPAN]][:after=SPAN]
  KIND       covariate (feature values change, churn relationship kept) or
             concept (churn relationship changes, feature values kept)
  FEATURES   comma-separated: tenure_months, monthly_charges, support_tickets,
             usage_minutes, sessions, failed_payments, plan, contract_type;
             covariate on a category names the target: contract_type=month_to_month
  MAGNITUDE  covariate: relative change (-0.4 or -40%% = 40 %% lower); on a category the
             share of other customers moved there (0..1]. concept: relative change of the
             feature's effect on churn: off (-1, stops mattering), flip (-2, reversed), +1 (doubled)
  SPAN       event time (30s, 2m, 1h) or activity records (5000rec); gradual alone = 60s
  Drifts are timed from the start of the live phase (of the history in a history-only run).

The API token comes from --token, else MLOPS_API_TOKEN, else the file
${MLOPS_MESH_HOME:-var}/secrets/api-token that `make up` writes.
Exit status: 0 done, 1 failed or records rejected, 2 usage error, 130 interrupted.
"""


@dataclass(frozen=True, slots=True)
class RunOptions:
    """One run of the simulator, as the command line asked for it."""

    config: SimulationConfig
    history_days: float = 0.0
    live: bool = True
    rate: float | None = 100.0
    """Records/s in the live phase (None: as fast as ingest takes them)."""
    duration_s: float | None = None
    records: int | None = None
    drifts: tuple[DriftSpec, ...] = ()
    ingest_url: str = DEFAULT_INGEST_URL
    token: str | None = None
    output: str | None = None
    max_batch: int = 500
    timeout_s: float = 30.0
    max_retries: int = 8
    progress_interval_s: float = 2.0
    quiet: bool = False


class StopSignal:
    """A stop request (first Ctrl-C or SIGTERM): finish the batch in flight, then stop."""

    def __init__(self) -> None:
        self.requested = False

    def request(self) -> None:
        self.requested = True

    def __call__(self) -> bool:
        return self.requested


def build_parser(prog: str = "mlops simulate") -> argparse.ArgumentParser:
    """The argument parser (``--help`` shows examples and the drift syntax)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Stream a seeded, simulated churn business (customer activity and delayed churn\n"
            "labels) through ingest's public POST /v1/records, with optional drift."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    business = parser.add_argument_group("the simulated business")
    business.add_argument(
        "--customers", metavar="N", type=_positive_int, default=1000, help="customers (1000)"
    )
    business.add_argument("--seed", metavar="N", type=int, default=0, help="random seed (0)")
    business.add_argument(
        "--period",
        metavar="DUR",
        type=_duration,
        default=timedelta(days=1),
        help="activity covered by each activity record (1d)",
    )
    business.add_argument(
        "--churn-rate",
        metavar="P",
        type=float,
        default=0.2,
        help="target share of labels that are churned=true (0.2)",
    )
    business.add_argument(
        "--label-horizon",
        metavar="N",
        type=_positive_int,
        default=7,
        help="periods a customer is watched before a churned=false label (7)",
    )
    business.add_argument(
        "--label-delay",
        metavar="DUR",
        type=_duration,
        default=timedelta(seconds=30),
        help="event time from the deciding record to its label (30s)",
    )
    phases = parser.add_argument_group("what to send")
    phases.add_argument(
        "--history-days",
        metavar="DAYS",
        type=float,
        default=0.0,
        help="first backfill this many days of past records, as fast as ingest takes them",
    )
    phases.add_argument(
        "--live",
        action="store_true",
        help="after --history-days, go on streaming live (implied by --duration/--records)",
    )
    phases.add_argument(
        "--rate", metavar="R", type=float, default=100.0, help="live records/s; 0 = unlimited (100)"
    )
    phases.add_argument(
        "--duration",
        metavar="DUR",
        type=_duration,
        help="stop the live phase after this long (e.g. 120s)",
    )
    phases.add_argument(
        "--records",
        metavar="N",
        type=_positive_int,
        help="stop the live phase after this many records",
    )
    phases.add_argument(
        "--drift",
        type=_drift,
        action="append",
        default=[],
        metavar="SPEC",
        help="inject drift, e.g. covariate:usage_minutes:-0.4:after=60s (repeatable)",
    )
    transport = parser.add_argument_group("where to send")
    transport.add_argument(
        "--ingest-url",
        metavar="URL",
        help=f"ingest base URL (MLOPS_INGEST_URL, else {DEFAULT_INGEST_URL})",
    )
    transport.add_argument(
        "--token", metavar="TOKEN", help="API token (MLOPS_API_TOKEN, else the mesh's file)"
    )
    transport.add_argument(
        "--output",
        metavar="PATH",
        help="write JSON lines to PATH ('-' = stdout) instead of sending to ingest",
    )
    transport.add_argument(
        "--max-batch",
        metavar="N",
        type=_positive_int,
        default=500,
        help="records per request (500)",
    )
    transport.add_argument(
        "--timeout",
        metavar="DUR",
        type=_duration,
        default=timedelta(seconds=30),
        help="per request (30s)",
    )
    transport.add_argument(
        "--max-retries",
        metavar="N",
        type=int,
        default=8,
        help="resends of a batch on transient errors before giving up (8)",
    )
    transport.add_argument(
        "--run-id",
        metavar="ID",
        help="record id prefix; reuse one to resend the same records idempotently "
        "(default: the seed and the start time)",
    )
    display = parser.add_argument_group("display")
    display.add_argument(
        "--progress-interval",
        metavar="DUR",
        type=_duration,
        default=timedelta(seconds=2),
        help="between progress lines (2s)",
    )
    display.add_argument("--quiet", action="store_true", help="only the final summary")
    return parser


def options_from_args(
    args: argparse.Namespace, environ: Mapping[str, str], *, wall_time: float | None = None
) -> RunOptions:
    """Turn parsed arguments into run options (raises ValueError on a bad combination)."""
    if args.history_days < 0:
        raise ValueError("--history-days cannot be negative")
    if args.rate < 0:
        raise ValueError("--rate cannot be negative (0 = unlimited)")
    history = args.history_days > 0
    live = not history or args.live or args.duration is not None or args.records is not None
    run_id = args.run_id
    if run_id is None:
        started = int(wall_time if wall_time is not None else time.time())
        run_id = f"{args.seed}-{_base36(started)}"
    config = SimulationConfig(
        customers=args.customers,
        seed=args.seed,
        period=args.period,
        label_horizon=args.label_horizon,
        label_delay=args.label_delay,
        churn_rate=args.churn_rate,
        run_id=run_id,
    )
    return RunOptions(
        config=config,
        history_days=args.history_days,
        live=live,
        rate=args.rate or None,
        duration_s=args.duration.total_seconds() if args.duration is not None else None,
        records=args.records,
        drifts=tuple(args.drift),
        ingest_url=resolve_ingest_url(args.ingest_url, environ),
        token=args.token,
        output=args.output,
        max_batch=args.max_batch,
        timeout_s=args.timeout.total_seconds(),
        max_retries=max(0, args.max_retries),
        progress_interval_s=args.progress_interval.total_seconds(),
        quiet=args.quiet,
    )


def resolve_ingest_url(explicit: str | None, environ: Mapping[str, str]) -> str:
    """--ingest-url, else MLOPS_INGEST_URL, else ingest's port on a mesh moved by
    MLOPS_MESH_BASE_PORT (base + 1), else the default."""
    if explicit:
        return explicit
    if environ.get("MLOPS_INGEST_URL"):
        return environ["MLOPS_INGEST_URL"]
    base_port = environ.get("MLOPS_MESH_BASE_PORT")
    if base_port and base_port.isdigit():
        return f"http://127.0.0.1:{int(base_port) + 1}"
    return DEFAULT_INGEST_URL


def token_file(environ: Mapping[str, str]) -> Path:
    """Where `make up` writes the API token."""
    return Path(environ.get("MLOPS_MESH_HOME") or "var") / "secrets" / "api-token"


def resolve_token(explicit: str | None, environ: Mapping[str, str]) -> str | None:
    """--token, else MLOPS_API_TOKEN, else the mesh's token file; None when there is none."""
    if explicit:
        return explicit
    if environ.get("MLOPS_API_TOKEN"):
        return environ["MLOPS_API_TOKEN"]
    with suppress(OSError):
        token = token_file(environ).read_text().strip()
        if token:
            return token
    return None


async def simulate(
    options: RunOptions,
    *,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    stop: StopSignal | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run the phases ``options`` asks for and print a summary; returns the exit status."""
    clock = clock if clock is not None else SystemClock()
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    stop = stop if stop is not None else StopSignal()
    environ = environ if environ is not None else os.environ
    summary_stream = err if options.output == "-" else out

    stats = StreamStats()
    reporter = ProgressReporter(
        err, clock, stats, interval_s=options.progress_interval_s, enabled=not options.quiet
    )
    sink: RecordSink
    output_file: IO[str] | None = None
    if options.output is not None:
        output_file = (
            out
            if options.output == "-"
            else await asyncio.to_thread(open, options.output, "w", encoding="utf-8")
        )
        sink = JsonLinesSink(output_file)
        destination = "stdout" if options.output == "-" else options.output
    else:
        token = options.token or resolve_token(None, environ)
        if token is None:
            print(
                "simulate: no API token: pass --token, set MLOPS_API_TOKEN, or start the mesh "
                f"with `make up` (it writes {token_file(environ)})",
                file=err,
            )
            return EXIT_USAGE
        sink = HttpIngestSink(
            options.ingest_url,
            token,
            timeout_s=options.timeout_s,
            max_retries=options.max_retries,
            sleep=clock.sleep,
            transport=transport,
            on_retry=reporter.note,
        )
        destination = options.ingest_url

    simulation = Simulation(options.config)
    history_drifts = () if options.live else options.drifts
    live_drifts = options.drifts if options.live else ()
    if not options.quiet:
        reporter.note(_describe_run(options, destination))

    warned_rejections = False
    known_batch_limit = sink.max_batch
    announced: dict[int, bool] = {}
    announced_schedule: DriftSchedule | None = None

    def on_progress() -> None:
        nonlocal warned_rejections, known_batch_limit, announced_schedule
        schedule = simulation.drifts
        if schedule is not announced_schedule:  # a new phase
            announced_schedule = schedule
            announced.clear()
        for index, started in enumerate(schedule.started):
            # One line per drift start, for narration (`make demo`) and stage timings.
            if started is not None and not announced.get(index):
                announced[index] = True
                moment = simulation.drift_started_at(index)
                reporter.note(
                    f"simulate: drift started: {schedule.drifts[index]} at event time "
                    f"{format_time(moment) if moment else '?'} "
                    f"(activity record {started[1]:,} of the phase)"
                )
        if stats.rejections and not warned_rejections:
            warned_rejections = True
            first = "\n".join(f"  {rejection}" for rejection in stats.rejections[:3])
            reporter.note(
                "simulate: ingest rejected records (the valid ones of each batch were "
                f"accepted); first errors:\n{first}"
            )
        if sink.max_batch != known_batch_limit:
            known_batch_limit = sink.max_batch
            reporter.note(
                f"simulate: ingest refused a batch as too large (413); sending at most "
                f"{known_batch_limit} records per request from now on"
            )
        reporter.update()

    started = clock.monotonic()
    reason: StopReason | str = StopReason.EXHAUSTED
    failure: IngestError | None = None
    try:
        if options.history_days > 0:
            reporter.begin_phase("history", lambda: _history_detail(simulation, options))
            reason = await stream_records(
                simulation.history(
                    days=options.history_days, end=clock.now(), drifts=history_drifts
                ),
                sink,
                clock=clock,
                stats=stats,
                max_batch=options.max_batch,
                stop_requested=stop,
                on_progress=on_progress,
            )
        if options.live and reason is not StopReason.INTERRUPTED:
            reporter.begin_phase("live", lambda: simulation.drifts.describe())
            reason = await stream_records(
                simulation.live(clock.now, drifts=live_drifts),
                sink,
                clock=clock,
                stats=stats,
                rate=options.rate,
                max_batch=options.max_batch,
                stop_after=StopAfter(seconds=options.duration_s, records=options.records),
                stop_requested=stop,
                on_progress=on_progress,
            )
    except IngestError as error:
        failure = error
        reason = "failed"
    except asyncio.CancelledError:
        # A second Ctrl-C: the batch in flight is abandoned; still say what was done.
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        reason = "aborted"
    finally:
        await sink.aclose()
        if output_file is not None and output_file is not out:
            output_file.close()

    reporter.update(force=True)
    reporter.finish()
    extra = [
        f"business  {simulation.stats.churned:,} customers churned, "
        f"{simulation.stats.joined:,} joined, {simulation.pending_labels:,} labels not yet due",
        f"target    {destination} (run id {options.config.run_id})",
    ]
    if options.drifts:
        extra.append(
            "drifts    "
            + "; ".join(
                f"{spec} at {level:.0%}"
                for spec, level in zip(
                    simulation.drifts.drifts, simulation.drifts.levels, strict=True
                )
            )
        )
    print(
        format_summary(
            stats, elapsed_s=clock.monotonic() - started, reason=reason, extra=tuple(extra)
        ),
        file=summary_stream,
    )
    if failure is not None:
        print(f"simulate: error: {failure}", file=err)
        return EXIT_FAILED
    if reason in (StopReason.INTERRUPTED, "aborted"):
        return EXIT_INTERRUPTED
    return EXIT_FAILED if stats.rejected else EXIT_OK


def main(argv: list[str] | None = None, *, prog: str = "mlops simulate") -> int:
    """Entry point of ``mlops simulate`` and ``python -m simulator``; returns the exit status."""
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error argparse already printed
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        options = options_from_args(args, os.environ)
    except ValueError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    return asyncio.run(_run_with_signals(options))


async def _run_with_signals(options: RunOptions) -> int:
    stop = StopSignal()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def on_signal() -> None:
        if stop.requested and task is not None:
            task.cancel()
            return
        stop.request()
        print(
            "\nsimulate: stopping after the batch in flight (Ctrl-C again to abort)",
            file=sys.stderr,
        )

    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, on_signal)
            handled.append(signum)
    try:
        return await simulate(options, stop=stop)
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)


def _describe_run(options: RunOptions, destination: str) -> str:
    config = options.config
    phases = []
    if options.history_days > 0:
        phases.append(f"{options.history_days:g} days of history")
    if options.live:
        pace = f"{options.rate:g} records/s" if options.rate else "unlimited rate"
        limits = [
            f"for {format_duration(options.duration_s)}" if options.duration_s is not None else "",
            f"up to {options.records:,} records" if options.records is not None else "",
        ]
        until = " ".join(limit for limit in limits if limit) or "until Ctrl-C"
        phases.append(f"live at {pace} {until}")
    drifts = f"; drift {', '.join(str(d) for d in options.drifts)}" if options.drifts else ""
    return (
        f"simulate: {config.customers:,} customers (seed {config.seed}, run {config.run_id}) -> "
        f"{destination}: {' then '.join(phases)}; labels {format_duration(config.label_delay)} "
        f"after the outcome{drifts}"
    )


def _history_detail(simulation: Simulation, options: RunOptions) -> str:
    done = simulation.phase_progress * options.history_days
    return f"day {done:.1f} of {options.history_days:g}"


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        value, remainder = divmod(value, 36)
        text = digits[remainder] + text
        if value == 0:
            return text


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _drift(text: str) -> DriftSpec:
    try:
        return DriftSpec.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
