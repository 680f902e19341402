"""Speed comparisons that print a table; run as `python -m benchmarks.<name>`. Never imported by core."""
