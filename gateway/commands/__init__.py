"""Subcommands of the ``gateway`` command, grouped by who uses them."""
