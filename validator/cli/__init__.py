"""The command line: one module per command (``check`` in main.py, ``attack``, ``batch``,
``attack --for detection``, ``reference``). Each wires options to the library and returns an exit
status; rendering is validator.console's."""

from validator.cli.main import cli, main

__all__ = ["cli", "main"]
