"""Subcommands of the `uniad` CLI, one module each, each exposing `register(subparsers)`."""
