"""Benchmarks; `make bench` runs them and writes bench/REPORT.md."""
