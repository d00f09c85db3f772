"""The `sidecar` command line: the parser and one module per sub-command."""
