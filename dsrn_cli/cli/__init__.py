"""The ``dsrn`` command line: one module per command, one map from errors to exit codes.
Parses options and calls the library; imports only this room, public library names,
Typer and rich."""
