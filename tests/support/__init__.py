"""Helpers shared by the test tiers: databases, federations, node processes."""
