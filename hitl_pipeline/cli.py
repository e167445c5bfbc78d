"""The ``hitl`` command line: a thin Typer layer over the library.

How to add a command (keep every command the same shape):

1. Parse arguments with ``Annotated`` parameters; reuse :data:`HomeOption` for the state
   directory (``--home``, env ``HITL_HOME``, default ``.hitl``) and :data:`SpecArgument` for a
   spec path.
2. Call ONE library function (it raises :class:`~hitl_pipeline.errors.HitlError` subclasses for
   anything the user can fix) and render its result with ``typer.echo``.
3. Give it a docstring: a one-line summary, then a line ``Example: hitl <command> …``
   (``tests/test_docs.py`` checks this, and that the command is listed in README's CLI reference).
4. A group of sub-commands (``hitl configs sync``) is ``typer.Typer(cls=HitlGroup, …)`` mounted
   with ``app.add_typer``; its commands follow 1–3.

Do not catch errors in the command: the group class :class:`HitlGroup` maps them for every
command, in one place. A ``HitlError`` becomes ``Error: <message>`` on stderr and exit code 1 (no
traceback); any other exception is a bug: its traceback (never local variables, so secrets held
in locals cannot leak) goes to stderr and the exit code is 2. This works the same under
``typer.testing.CliRunner`` and from the installed ``hitl`` script.
"""

from __future__ import annotations

import io
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from hitl_pipeline import __version__
from hitl_pipeline.errors import HitlError

#: Exit code for errors the user can fix (bad spec, missing credentials, …).
EXIT_USER_ERROR = 1
#: Exit code for bugs (an unexpected exception).
EXIT_BUG = 2

#: Default state directory (relative to the working directory) when neither ``--home`` nor
#: ``HITL_HOME`` is given.
DEFAULT_HOME = Path(".hitl")


class HitlGroup(TyperGroup):
    """The root command group: maps exceptions of every sub-command to messages and exit codes."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except HitlError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            # `hitl validate … | head`: the reader left; say nothing more (Python's documented recipe).
            _silence_stdout()
            raise typer.Exit(EXIT_USER_ERROR) from None
        except Exception as exc:
            # Click's own usage errors are not bugs: let click render them (exit 2 "Usage: …").
            if _is_click_exception(exc):
                raise
            # format_exception never includes frame locals (unlike rich's pretty tracebacks with
            # show_locals), so a secret held in a local variable cannot end up on screen.
            text = "".join(traceback.format_exception(exc))
            typer.echo(text.rstrip("\n"), err=True)
            typer.echo(
                "This is a bug in hitl-pipeline (exit code 2). Please report it with the traceback above.",
                err=True,
            )
            raise typer.Exit(EXIT_BUG) from None


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file descriptor (e.g. under CliRunner): nothing to silence


def _is_click_exception(exc: BaseException) -> bool:
    from typer import _click  # the click copy typer vendors; its exceptions drive usage errors

    return isinstance(exc, _click.exceptions.ClickException)


app = typer.Typer(
    cls=HitlGroup,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    help="Review campaigns as code for LLM traces in Langfuse.",
)

#: ``--home DIR``: the state directory (env ``HITL_HOME``). Use as ``home: HomeOption = DEFAULT_HOME``
#: and pass the result through :func:`resolve_home`.
HomeOption = Annotated[
    Path,
    typer.Option(
        "--home",
        envvar="HITL_HOME",
        help="State directory (local store, campaign state, reviewer accounts). Env: HITL_HOME.",
        show_default=True,
    ),
]

#: A spec file argument that must be given (existence is checked by the library, with a clear error).
SpecArgument = Annotated[Path, typer.Argument(help="Review spec YAML file.", metavar="SPEC")]


def resolve_home(home: Path) -> Path:
    """The state directory as an absolute path (it is not created here)."""
    return home.expanduser().resolve()


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"hitl-pipeline {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            envvar="HITL_STATE_URL",
            metavar="URL",
            help="Keep campaign state, reviewer accounts and login sessions in this PostgreSQL database "
            "(postgresql://user:password@host/db) instead of SQLite files under --home, so several "
            "`hitl run` servers can share a campaign. Env: HITL_STATE_URL.",
        ),
    ] = None,
) -> None:
    """Review campaigns as code for LLM traces in Langfuse.

    Example: hitl validate specs/*.yaml
    """
    if state:
        from hitl_pipeline.campaign.state.location import STATE_URL_ENV, state_url

        os.environ[STATE_URL_ENV] = state_url(state) or ""  # checked here: a bad URL stops at once


@app.command()
def validate(
    specs: Annotated[list[Path], typer.Argument(help="Spec files to check.", metavar="SPEC...")],
) -> None:
    """Check review specs and print every problem as file:line:col: path: message.

    Exit code 0 when every file is valid, 1 otherwise (usable in CI and pre-commit hooks).

    Example: hitl validate specs/*.yaml
    """
    from hitl_pipeline.spec import validate_specs

    results = validate_specs(specs)
    bad = 0
    for path, issues in results:
        if issues:
            bad += 1
            for issue in issues:
                typer.echo(str(issue))
        else:
            typer.echo(f"✓ {path}")
    if bad:
        raise HitlError(f"{bad} of {len(results)} spec file{'s' if len(results) != 1 else ''} invalid")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the review spec format (for editors and other validators).

    Point your editor at it with a first line in the spec:
    # yaml-language-server: $schema=<path to the saved schema>

    Example: hitl schema > review-spec.schema.json
    """
    import json

    from hitl_pipeline.spec import schema as spec_schema

    typer.echo(json.dumps(spec_schema(), indent=2, ensure_ascii=False))


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter spec.")] = Path("review.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter spec that validates, ready to edit.

    Example: hitl init specs/my_campaign.yaml
    """
    from hitl_pipeline.spec.starter import write_starter

    written = write_starter(path, force=force)
    typer.echo(f"Wrote {written}. Check it with: hitl validate {written}")


#: ``--source local|langfuse`` for commands that talk to the backend (default: langfuse when both
#: Langfuse keys are set, else local).
SourceOption = Annotated[
    str | None,
    typer.Option(
        "--source",
        help="local or langfuse (default: langfuse when LANGFUSE_PUBLIC_KEY/SECRET_KEY are set, else local).",
    ),
]


#: ``--request-budget 30/min``: the Langfuse request budget (HITL_REQUEST_BUDGET).
BudgetOption = Annotated[
    str | None,
    typer.Option(
        "--request-budget",
        help="Requests Langfuse may get, e.g. 30/min (Cloud Hobby), shared by reads, writes and "
        "read-backs; reviewers' items first (default: HITL_REQUEST_BUDGET, else learnt from 429s).",
    ),
]


@app.command()
def run(
    spec: SpecArgument,
    source: SourceOption = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Build and print the queue; start no server, write no campaign state."
        ),
    ] = False,
    host: Annotated[
        str,
        typer.Option("--host", help="Interface to serve the form on (non-loopback needs reviewer accounts)."),
    ] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option("--port", help="Port of the review form (default: first free of 7860–7959).")
    ] = None,
    reviewer: Annotated[
        str | None, typer.Option("--reviewer", help="Review as this reviewer (single-user mode, no login).")
    ] = None,
    auth_header: Annotated[
        str | None,
        typer.Option(
            "--auth-header",
            help="Trust this header (e.g. X-Forwarded-User) for the reviewer name; only behind a proxy that sets it.",
        ),
    ] = None,
    new_version: Annotated[
        bool,
        typer.Option(
            "--new-version",
            help="The spec changed in meaning: start a new campaign version (scores kept apart) instead of refusing.",
        ),
    ] = False,
    request_budget: BudgetOption = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Build the review queue from a spec and serve the review form.

    With --dry-run: the queue, and for Langfuse the request plan (requests to build the queue, per
    reviewed item, and how many reviewers at what pace fit a budget).

    Example: hitl run specs/support_qa.yaml
    """
    from hitl_pipeline.spec import load_spec

    loaded = load_spec(spec)
    typer.echo(
        f"✓ {loaded.path}: campaign {loaded.campaign!r}, target {loaded.target}, "
        f"{len(loaded.questions)} question(s), spec hash {loaded.spec_hash[:12]}"
    )
    if dry_run:
        _print_dry_run(loaded, source, home, request_budget)
        return
    from hitl_pipeline.ui.run import Serving, serve_campaign

    def ready(serving: Serving) -> None:
        typer.echo(
            f"Queue: {serving.items} {loaded.target}(s), {serving.reviews_left} review(s) to do"
            + (
                " so far (adaptive overlap adds reviewers where answers disagree)"
                if loaded.review.adaptive
                else ""
            )
            + f"; answers go to {serving.destination}"
        )
        typer.echo(f"Review form: {serving.url}  ({serving.access})")
        typer.echo("Press Ctrl+C to stop; answers are saved as you go.")

    serve_campaign(
        loaded,
        lambda: _open_source(source, home, request_budget),
        home=resolve_home(home),
        host=host,
        port=port,
        reviewer=reviewer,
        auth_header=auth_header,
        on_ready=ready,
        new_version=new_version,
    )
    _send_at_stop(loaded, source, home, request_budget)
    from hitl_pipeline.campaign.startup import unsent_summary
    from hitl_pipeline.campaign.status import status as campaign_status

    # The real state of the outbox once the form and its worker stopped (not a guess).
    typer.echo(unsent_summary(campaign_status(loaded, home=resolve_home(home)).outbox, str(spec)))


#: Seconds `hitl run` spends at the stop sending the answers of the last moments.
STOP_SEND_SECONDS = 10.0


def _send_at_stop(spec: Any, source: str | None, home: Path, request_budget: str | None = None) -> None:
    """Send (and confirm) the scores still waiting in the outbox, for a few seconds; Ctrl+C skips."""
    from hitl_pipeline.campaign.lifecycle import sync as sync_campaign
    from hitl_pipeline.campaign.status import status as campaign_status

    waiting = campaign_status(spec, home=resolve_home(home)).outbox.get("pending", 0)
    if not waiting:
        return
    typer.echo(f"Sending {waiting} score(s) not sent yet (up to {STOP_SEND_SECONDS:g} s; Ctrl+C skips) …")
    try:
        src = _open_source(source, home, request_budget)
        try:
            sync_campaign(spec, src, home=resolve_home(home), deadline=STOP_SEND_SECONDS)
        finally:
            src.close()
    except KeyboardInterrupt:
        pass
    except HitlError as exc:  # e.g. the source is unreachable: the scores stay in the outbox
        typer.echo(f"Could not send them now: {exc}", err=True)


@app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(help="JSONL file: one trace/observation/score/score_config per line.", metavar="FILE"),
    ],
    db: Annotated[
        Path | None, typer.Option("--db", help="Local store to import into (default: <home>/local.db).")
    ] = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Import traces, observations, scores and score configs from a JSONL file into the local store.

    Every line is checked first; if any line is bad, all bad lines are listed and nothing is written.

    Example: hitl import traces.jsonl --db .hitl/local.db
    """
    from hitl_pipeline.settings import Settings
    from hitl_pipeline.sources.jsonl import import_file

    target = db if db is not None else Settings.from_env(home=resolve_home(home)).local_db_path
    result = import_file(file, target)
    typer.echo(
        f"Imported {result.traces} trace(s), {result.observations} observation(s), {result.scores} score(s) "
        f"and {result.score_configs} score config(s) from {result.path} into {result.db_path}"
    )


@app.command()
def demo(
    db: Annotated[
        Path | None, typer.Option("--db", help="Where to create the demo store (default: <home>/local.db).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing store with fresh demo data.")
    ] = False,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Create the local store with the demo data (customer-support chats, October 2026).

    `hitl run` does this by itself on first use; run it to start over with --force.

    Example: hitl demo --force
    """
    from hitl_pipeline.settings import Settings
    from hitl_pipeline.sources.demo import make_demo_store

    target = db if db is not None else Settings.from_env(home=resolve_home(home)).local_db_path
    info = make_demo_store(target, force=force)
    c = info.counts
    summary = (
        f"{c['traces']} traces, {c['observations']} observations, {c['sessions']} sessions, "
        f"{c['scores']} scores, {c['score_configs']} score configs"
    )
    if info.created:
        typer.echo(f"Created the demo store at {info.path}: {summary}")
    else:
        typer.echo(f"The store at {info.path} already exists ({summary}); use --force to recreate it.")


def _open_source(name: str | None, home: Path, request_budget: str | None = None) -> Any:
    import dataclasses

    from hitl_pipeline.settings import Settings
    from hitl_pipeline.sources import get_source

    settings = Settings.from_env(resolve_home(home))
    if request_budget is not None:
        from hitl_pipeline.sources.budget import parse_budget

        parse_budget(request_budget)  # a bad value is an error before anything is opened
        settings = dataclasses.replace(settings, request_budget=request_budget)
    source = get_source(name, settings)
    if getattr(source, "demo_created", False):
        # First use on this machine: say where the data came from (stderr keeps stdout parseable).
        typer.echo(
            f"No local store yet: created {getattr(source, 'path', '')} with the demo data "
            "(400 customer-support traces, October 2026, and a 60-trace prompt v1 vs v2 run, November 2026). "
            "Use --source langfuse for real data.",
            err=True,
        )
    return source


def _print_dry_run(spec: Any, source_name: str | None, home: Path, request_budget: str | None) -> None:
    """``hitl run --dry-run``: the exact item ids in queue order, a count per stratum, and on
    Langfuse the request plan."""
    from hitl_pipeline.campaign.lifecycle import dry_run
    from hitl_pipeline.campaign.queue import NO_STRATUM
    from hitl_pipeline.campaign.startup import explain_empty

    src = _open_source(source_name, home, request_budget)
    try:
        plan = dry_run(spec, src, home=resolve_home(home))
        requests = _request_plan(spec, src, len(plan))
        why_empty = explain_empty(spec, src, plan.now) if not plan.refs else []
    finally:
        src.close()
    s = spec.sample
    start, end = spec.filters.window(plan.now)
    typer.echo(
        f"Queue: {len(plan)} of {plan.candidates} matching {spec.target}s "
        f"(sample {s.strategy}, seed {s.seed}, window [{start.isoformat()}, {end.isoformat()}))"
    )
    for line in why_empty:  # which filter left nothing, with the count after each one
        typer.echo(line)
    width = len(str(len(plan)))
    for i, ref in enumerate(plan.refs, 1):
        typer.echo(f"{i:>{width}}  {ref.key}")
    if s.by:
        typer.echo(f"Per stratum ({s.by}):")
        for stratum, count in sorted(plan.strata.items(), key=lambda kv: (kv[0] is None, kv[0] or "")):
            total = plan.candidates_per_stratum.get(stratum)
            of = f" of {total}" if total is not None else ""
            typer.echo(f"  {stratum if stratum is not None else NO_STRATUM}: {count}{of}")
    if plan.pairing is not None:
        from hitl_pipeline.campaign.pairs import pairing_lines

        for line in pairing_lines(spec, plan.pairing):
            typer.echo(line)
    if requests is not None:
        typer.echo(requests[0])
        for line in requests[1:]:
            typer.echo(line)


def _request_plan(spec: Any, src: Any, items: int) -> list[str] | None:
    """The request plan lines of a Langfuse source (None for the local store: no requests)."""
    if not callable(getattr(src, "requests_sent", None)):
        return None
    from hitl_pipeline.campaign.request_plan import RequestPlan

    caps = src.probe()
    budget = src.budget
    plan = RequestPlan(
        target=spec.target,
        items=items,
        queue_requests=src.requests_sent(),
        v2_reads=caps.v2_observations,
        arrays=caps.score_body == "array",
        scores_per_item=len(spec.questions),
        budget_per_min=budget.limit * 60 / budget.period if budget.limit else None,
    )
    head = (
        f"Request plan (Langfuse {caps.version} at {caps.host}; "
        f"{'v2 observations reader' if caps.v2_observations else 'legacy readers'}):"
    )
    return [head, *plan.lines()]


@app.command()
def sync(
    spec: SpecArgument,
    source: SourceOption = None,
    deadline: Annotated[
        float, typer.Option("--deadline", help="Seconds to keep sending and confirming.")
    ] = 120.0,
    retry_failed: Annotated[
        bool,
        typer.Option("--retry-failed", help="Send failed and dropped scores again (after fixing the cause)."),
    ] = False,
    request_budget: BudgetOption = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Send the campaign's pending scores and confirm each one by reading it back.

    Exit code 1 when any score of the campaign is left failed, dropped, pending or not visible yet
    at the end, whichever run it failed in (the count is printed; see `hitl status`).

    Example: hitl sync specs/support_qa.yaml
    """
    from hitl_pipeline.campaign.lifecycle import require_state
    from hitl_pipeline.campaign.lifecycle import sync as sync_campaign
    from hitl_pipeline.scoring.outbox import DrainReport
    from hitl_pipeline.spec import load_spec

    loaded = load_spec(spec)
    require_state(loaded, resolve_home(home))  # before a source is opened (or a demo store created)
    src = _open_source(source, home, request_budget)
    with typer.progressbar(length=1, label="Syncing scores", file=sys.stderr) as bar:
        shown = [0]

        def progress(report: DrainReport) -> None:
            bar.length = max(report.total, 1)
            done = min(report.confirmed + report.failed + report.dropped, bar.length)
            bar.update(done - shown[0])
            shown[0] = done

        try:
            report = sync_campaign(
                loaded,
                src,
                home=resolve_home(home),
                deadline=deadline,
                retry_failed=retry_failed,
                on_progress=progress,
            )
        finally:
            src.close()
    typer.echo(
        f"{report.confirmed} confirmed, {report.failed} failed, {report.dropped} dropped, "
        f"{report.pending} pending, {report.unconfirmed} not visible yet "
        f"({report.requests} write request(s), {report.retried} retried)"
    )
    if report.waited_for:
        typer.echo(
            f"another process is sending this campaign's scores ({report.waited_for}); "
            "this sync waited for it instead of sending them twice"
        )
    if report.left_over:
        raise HitlError(
            f"not every score is confirmed: {report.left_over} left ({report.left_failed} failed, "
            f"{report.left_dropped} dropped, {report.pending} pending, {report.unconfirmed} not visible yet; "
            f"failed and dropped ones of earlier runs included); see `hitl status {spec}` for the reasons"
        )


@app.command()
def status(spec: SpecArgument, home: HomeOption = DEFAULT_HOME) -> None:
    """Show a campaign's progress and write-back state: queued, answered, sent, confirmed, failed, dropped.

    Example: hitl status specs/support_qa.yaml
    """
    from hitl_pipeline.campaign.lifecycle import open_state
    from hitl_pipeline.campaign.status import status as campaign_status
    from hitl_pipeline.quality.status import remaining_reviews, status_lines
    from hitl_pipeline.spec import load_spec

    spec_obj = load_spec(spec)
    st = campaign_status(spec_obj, home=resolve_home(home))
    o = st.outbox
    per_item, queued = f"{st.reviews_per_item}", st.queued
    adaptive = spec_obj.review.adaptive
    state = open_state(spec_obj, resolve_home(home))
    try:
        if adaptive is not None:  # adaptive overlap: slots are those decided so far, not items × max
            per_item, queued = f"{adaptive.min}–{adaptive.max} (adaptive)", remaining_reviews(spec_obj, state)
        quality_lines = status_lines(spec_obj, state)  # qualification, gold accuracy, overlap, ETA
    finally:
        state.close()
    typer.echo(f"Campaign {st.campaign} (version {st.spec_version}, spec {st.spec_hash[:12]})")
    typer.echo(
        f"  items {st.items} × {per_item} reviewer(s): {st.answered} answered, {queued} queued, "
        f"{st.items_complete} items complete"
    )
    typer.echo(
        f"  scores: {o['pending']} pending, {o['sent']} sent (not visible yet), {o['confirmed']} confirmed, "
        f"{o['failed']} failed, {o['dropped']} dropped"
    )
    if st.reviewers:
        typer.echo("  per reviewer:")
        for r in st.reviewers:
            typer.echo(
                f"    {r.reviewer}: {r.answered} answered; scores {r.pending} pending, {r.sent} sent, "
                f"{r.confirmed} confirmed, {r.failed} failed, {r.dropped} dropped"
            )
    for reason, count in st.failures:
        typer.echo(f"  {count} × {reason}")
    for line in quality_lines:
        typer.echo(line)


@app.command()
def export(
    spec: SpecArgument,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: standard output).")
    ] = None,
    to_dataset: Annotated[
        str | None,
        typer.Option(
            "--to-dataset",
            help="Instead: turn reviewed items into a dataset of this name (Langfuse dataset, or "
            "<home>/datasets/NAME.jsonl for the local source).",
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            help="With --to-dataset: keep items whose consensus meets this, e.g. support_quality=excellent (repeatable).",
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source", help="With --to-dataset: local or langfuse (default: langfuse if configured)."
        ),
    ] = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Write the campaign's answers, one row per item × reviewer × question, as CSV or JSON Lines.

    With --to-dataset NAME, reviewed items whose consensus meets every --where become a dataset
    (a golden set built by humans) instead.

    Example: hitl export specs/support_qa.yaml --format jsonl --output answers.jsonl
    """
    from hitl_pipeline.campaign.export import export as export_campaign
    from hitl_pipeline.campaign.export import export_to_file
    from hitl_pipeline.spec import load_spec

    if to_dataset is not None:
        from hitl_pipeline.report.dataset import export_campaign_dataset

        done = export_campaign_dataset(
            spec, to_dataset, where or [], home=resolve_home(home), source_name=source, output=output
        )
        typer.echo(
            f"Wrote {len(done.rows)} of {done.considered} item(s) with a consensus to dataset {done.target}"
        )
        return
    loaded = load_spec(spec)
    if output is None:
        export_campaign(loaded, home=resolve_home(home), fmt=fmt, out=sys.stdout)
        return
    count = export_to_file(loaded, home=resolve_home(home), fmt=fmt, path=output)
    typer.echo(f"Wrote {count} row(s) to {output}", err=True)


@app.command()
def report(
    spec: SpecArgument,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="HTML file to write (default: <home>/reports/<campaign>.html)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole report as JSON on stdout instead of the summary.")
    ] = False,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="Where the scores are stored: local or langfuse (default: langfuse if configured).",
        ),
    ] = None,
    campaign_version: Annotated[
        int | None,
        typer.Option("--campaign-version", help="Report this campaign version (default: the current one)."),
    ] = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit 1 when any of the spec's gates fails, listing them (for CI)."),
    ] = False,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Write a campaign's agreement report as one HTML file and print a summary.

    Reads the campaign's stored scores: Krippendorff's alpha, Cohen's and Fleiss' kappa,
    distributions, reviewers, the most disputed items, human vs automated scores, judge
    alignment with intervals, reviewer accuracy on gold items, and the spec's gates
    (--check: exit 1 when one fails).

    Example: hitl report specs/support_qa.yaml --output report.html
    """
    from hitl_pipeline.report import render_json, report_campaign, summary_lines

    result = report_campaign(
        spec, home=resolve_home(home), source_name=source, output=output, spec_version=campaign_version
    )
    if as_json:
        typer.echo(render_json(result.report))
    else:
        for line in summary_lines(result.report):
            typer.echo(line)
        typer.echo(f"Report written to {result.html_path}")
    if check:  # CI gate (report/gates.py): the failing gates with their intervals, exit 1
        trust = result.report.trust
        gates = trust.gates if trust is not None else ()
        failed = [g for g in gates if not g.passed]
        if not gates:
            typer.echo("--check: the spec declares no gates", err=True)
        elif failed:
            typer.echo(f"{len(failed)} of {len(gates)} gate(s) fail:", err=True)
            for g in failed:
                typer.echo(f"  {g.line()}", err=True)
            raise typer.Exit(1)
        else:
            typer.echo(f"all {len(gates)} gate(s) hold", err=True)


@app.command()
def doctor(
    spec: Annotated[
        Path | None, typer.Argument(help="Also check this spec's score configs.", metavar="[SPEC]")
    ] = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Check the Langfuse connection: reachable, keys accepted, version, capabilities, score configs.

    Exit code 1 when anything needs fixing.

    Example: hitl doctor specs/support_qa.yaml
    """
    from hitl_pipeline.scoring.configs import spec_config_check
    from hitl_pipeline.settings import Settings
    from hitl_pipeline.sources.langfuse.doctor import diagnose

    report = diagnose(Settings.from_env(resolve_home(home)), spec_config_check(spec) if spec else None)
    typer.echo(f"Langfuse at {report.host}")
    for check in report.checks:
        typer.echo(f"  {'✓' if check.ok else '✗'} {check.name}: {check.detail}")
    for row in report.configs:
        mark = "✗" if row.status == "error" else "✓"
        typer.echo(
            f"  {mark} config {row.score}: {row.status}{f' ({row.config_id})' if row.config_id else ''}"
        )
        for problem in row.problems:
            typer.echo(f"      {problem}")
    if not report.ok:
        raise HitlError("hitl doctor found problems (see above)")


configs_app = typer.Typer(cls=HitlGroup, no_args_is_help=True, help="Score configs as code.")
app.add_typer(configs_app, name="configs")


@configs_app.command("sync")
def configs_sync(
    spec: SpecArgument,
    create: Annotated[
        bool, typer.Option("--create", help="Create the configs that do not exist yet (inline questions).")
    ] = False,
    source: SourceOption = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Match every question of a spec to its score config (and create missing ones with --create).

    Prints question → config id with a status: matched, created, not needed (correction) or error.

    Example: hitl configs sync specs/support_qa.yaml --create
    """
    from hitl_pipeline.scoring.configs import sync_spec_configs
    from hitl_pipeline.settings import Settings

    report = sync_spec_configs(spec, Settings.from_env(resolve_home(home)), source_name=source, create=create)
    typer.echo(f"Score configs of {report.spec_path} on the {report.source} source:")
    width = max((len(r.score) for r in report.rows), default=8)
    typer.echo(f"  {'question'.ljust(width)}  {'status'.ljust(10)}  config id")
    for row in report.rows:
        typer.echo(f"  {row.score.ljust(width)}  {row.status.ljust(10)}  {row.config_id or '-'}")
        for problem in row.problems:
            typer.echo(f"  {' ' * width}    {problem}")
    if not report.ok:
        raise HitlError("some questions have no usable score config (see above)")


reviewers_app = typer.Typer(
    cls=HitlGroup, no_args_is_help=True, help="Reviewer accounts (password login to the review form)."
)
app.add_typer(reviewers_app, name="reviewers")


def _accounts(home: Path) -> Any:
    from hitl_pipeline.ui.accounts_db import accounts_for

    return accounts_for(resolve_home(home))


@reviewers_app.command("add")
def reviewers_add(
    name: Annotated[str, typer.Argument(help="Reviewer (login) name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (for scripts).")
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Change the password of an existing reviewer.")
    ] = False,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Create a reviewer account (scrypt-hashed password in <home>/reviewers.json).

    Once the file has an account, `hitl run` asks reviewers to log in.

    Example: hitl reviewers add alice
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
    accounts = _accounts(home)
    existed = name in accounts
    accounts.add(name, password, replace=replace)
    typer.echo(f"{'Updated' if existed else 'Added'} reviewer {name!r} in {accounts.path}")


@reviewers_app.command("list")
def reviewers_list(home: HomeOption = DEFAULT_HOME) -> None:
    """List reviewer accounts.

    Example: hitl reviewers list
    """
    accounts = _accounts(home)
    names = accounts.names()
    if not names:
        typer.echo(f"No reviewer accounts in {accounts.path} (the form runs in single-user mode).")
    for n in names:
        typer.echo(n)


@reviewers_app.command("remove")
def reviewers_remove(
    name: Annotated[str, typer.Argument(help="Reviewer (login) name.")],
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Delete a reviewer account; a running form refuses them from their next action.

    Example: hitl reviewers remove alice
    """
    accounts = _accounts(home)
    accounts.remove(name)
    typer.echo(f"Removed reviewer {name!r} from {accounts.path}")


def main() -> None:
    """Console-script entry point (``hitl``)."""
    app(prog_name="hitl")


if __name__ == "__main__":  # pragma: no cover
    main()


# -- hitl state ---------------------------------------------------------------------------------

state_app = typer.Typer(
    cls=HitlGroup,
    no_args_is_help=True,
    help="The campaign state databases: check, migrate, copy between SQLite files and PostgreSQL.",
)
app.add_typer(state_app, name="state")


def _state_where(home: Path) -> str:
    """The state in force: the PostgreSQL URL of --state / HITL_STATE_URL, else the home directory."""
    from hitl_pipeline.campaign.state.location import state_url

    return state_url() or str(resolve_home(home))


@state_app.command("check")
def state_check(home: HomeOption = DEFAULT_HOME) -> None:
    """Show each campaign state's schema against this release (read only). Exit 1 when one needs
    `hitl state migrate`, or was written by a newer release.

    Example: hitl state check --home .hitl   (with --state URL before `state`: that database)
    """
    from hitl_pipeline.campaign.state.admin import check

    report = check(_state_where(home))
    for line in report.lines:
        typer.echo(line)
    if not report.ok:
        raise typer.Exit(1)


@state_app.command("migrate")
def state_migrate(home: HomeOption = DEFAULT_HOME) -> None:
    """Apply the schema changes of this release to every campaign state (and, on PostgreSQL, the
    reviewer accounts). `hitl run` does this too when it opens a campaign.

    Example: hitl state migrate --home .hitl   (with --state URL before `state`: that database)
    """
    from hitl_pipeline.campaign.state.admin import is_url, migrate_all

    where = _state_where(home)
    report = migrate_all(where)
    for line in report.lines:
        typer.echo(line)
    if is_url(where):
        from hitl_pipeline.ui.accounts_db import migrate_accounts

        done = migrate_accounts(where)
        typer.echo(
            "reviewer accounts and sessions: " + (f"applied {', '.join(done)}" if done else "up to date")
        )
    if not report.ok:
        raise typer.Exit(1)


@state_app.command("copy")
def state_copy(
    source: Annotated[
        str, typer.Option("--from", help="Home directory (.hitl) or postgresql:// URL to copy from.")
    ],
    target: Annotated[str, typer.Option("--to", help="Home directory or postgresql:// URL to copy to.")],
    campaign: Annotated[
        list[str] | None, typer.Option("--campaign", help="Copy only this campaign (repeatable).")
    ] = None,
) -> None:
    """Copy every campaign state and the reviewer accounts to another place (e.g. from SQLite files to
    PostgreSQL), verified by per-table counts and an identical export. Nothing at the target is
    overwritten. Stop the review servers first.

    Example: hitl state copy --from .hitl --to postgresql://hitl@db/hitl
    """
    from hitl_pipeline.campaign.state.admin import copy_state, is_url
    from hitl_pipeline.ui.accounts_db import copy_accounts

    def where(value: str) -> str:
        return value if is_url(value) else str(resolve_home(Path(value)))

    report = copy_state(where(source), where(target), campaigns=campaign or None, progress=lambda _: None)
    for line in report.lines:
        typer.echo(line)
    accounts = copy_accounts(where(source), where(target))
    if accounts:
        typer.echo(accounts)
    if not report.ok:
        raise typer.Exit(1)
