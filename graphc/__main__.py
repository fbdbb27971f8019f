"""`python -m graphc`."""

from graphc.cli import entry

entry()
