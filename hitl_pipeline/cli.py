"""The ``hitl`` command line: a thin Typer layer over the library.

How to add a command (keep every command the same shape):

1. Parse arguments with ``Annotated`` parameters; reuse :data:`HomeOption` for the state
   directory (``--home``, env ``HITL_HOME``, default ``.hitl``) and :data:`SpecArgument` for a
   spec path.
2. Call ONE library function (it raises :class:`~hitl_pipeline.errors.HitlError` subclasses for
   anything the user can fix) and render its result with ``typer.echo``.
3. Give it a docstring: a one-line summary, then a line ``Example: hitl <command> …``
   (``tests/test_docs.py`` checks this, and that the command is listed in README's CLI reference).

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
from hitl_pipeline.errors import ConfigError, HitlError

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
) -> None:
    """Review campaigns as code for LLM traces in Langfuse.

    Example: hitl validate specs/*.yaml
    """


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


@app.command()
def run(
    spec: SpecArgument,
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="Where items come from and scores go: local (the bundled demo store) or langfuse.",
            show_default=True,
        ),
    ] = "local",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Build and print the queue, start no server, write nothing.")
    ] = False,
    host: Annotated[str, typer.Option("--host", help="Interface to serve the form on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port of the review form.")] = 7860,
    reviewer: Annotated[
        str | None, typer.Option("--reviewer", help="Review as this reviewer (single-user mode, no login).")
    ] = None,
    home: HomeOption = DEFAULT_HOME,
) -> None:
    """Build the review queue from a spec and serve the review form.

    Example: hitl run specs/support_qa.yaml
    """
    from hitl_pipeline.spec import load_spec

    if source not in ("local", "langfuse"):
        raise ConfigError(f"--source must be local or langfuse, not {source!r}")
    loaded = load_spec(spec)
    typer.echo(
        f"✓ {loaded.path}: campaign {loaded.campaign!r}, target {loaded.target}, "
        f"{len(loaded.questions)} question(s), spec hash {loaded.spec_hash[:12]}"
    )
    if dry_run:
        return
    raise ConfigError(
        "serving the review form is not wired into `hitl run` yet in this build; "
        "the spec above is valid (use --dry-run to only check it)"
    )


def main() -> None:
    """Console-script entry point (``hitl``)."""
    app(prog_name="hitl")


if __name__ == "__main__":  # pragma: no cover
    main()
