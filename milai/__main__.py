"""`python -m milai` is the `milai` command."""

from milai.cli.main import app

app(prog_name="milai")
