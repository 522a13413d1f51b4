"""`python -m vprop`: the same command line as `vprop`."""
from vprop.cli import main

main()
