"""``python -m govern`` runs the CLI (useful where the console script is not on PATH)."""

from govern.cli import main

main()
