"""Unit tests of gateway.node."""
