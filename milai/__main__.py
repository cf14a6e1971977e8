"""`python -m milai` is the `milai` command."""

from milai.cli.main import main

main()
