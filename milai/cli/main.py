"""The `milai` command: one Typer app, one module per command group."""

from __future__ import annotations

import sys

import typer

from milai.cli import (
    classify,
    crawl,
    db,
    digest,
    labels,
    run,
    scheduler,
    search,
    serve,
    source_tools,
    sources,
    status,
    subscribe,
    subscriptions,
    tokens,
    worker,
)
from milai.cli.common import EXIT_RUNTIME, EXIT_USAGE

app = typer.Typer(
    name="milai",
    help="MilAI Watch: monitor government and UN websites for news on AI in the military domain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Every command and sub-app, in the order of `milai --help`.
app.command("run")(run.run_cmd)
app.command("scheduler")(scheduler.scheduler_cmd)
app.command("worker")(worker.worker_cmd)
app.command("status")(status.status_cmd)
app.command("serve")(serve.serve_cmd)
app.command("crawl")(crawl.crawl_cmd)
app.command("search", context_settings=search.SEARCH_CONTEXT)(search.search_cmd)
app.command("classify")(classify.classify_cmd)
sources.sources_app.command("check")(source_tools.check_cmd)
sources.sources_app.command("add")(source_tools.add_cmd)
app.add_typer(sources.sources_app, name="sources")
app.add_typer(subscribe.subscribe_app, name="subscribe")
app.add_typer(subscriptions.subscriptions_app, name="subscriptions")
app.add_typer(digest.digest_app, name="digest")
app.add_typer(tokens.tokens_app, name="tokens")
app.add_typer(labels.labels_app, name="labels")
app.add_typer(db.db_app, name="db")


def main() -> None:
    """Console entry point: an invalid MILAI_* setting is one line and exit status 2; a database that cannot
    be used (unreachable, read-only, locked) is one line naming the cause and where, and exit status 1."""
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    from milai.cli.common import CliState
    from milai.config import describe_errors
    from storage.dberrors import describe, is_unavailable

    state = CliState()
    try:
        app(prog_name="milai", obj=state)
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        print(f"error: {describe_errors(exc)}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    except SQLAlchemyError as exc:
        if not is_unavailable(exc):
            raise
        print(f"error: {describe(exc, state.settings.effective_database_url)}", file=sys.stderr)
        raise SystemExit(EXIT_RUNTIME) from None
