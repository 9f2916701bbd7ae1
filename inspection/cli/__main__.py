"""`python -m inspection.cli`, for the same command without the console script."""

from inspection.cli import main

main()
