"""The lab: the demo, the simulated residents and the benchmarks.

It sits on top of the product and the product never imports it (import-linter); the CLI finds its
commands (`demo`, `bench`, `campaign start --simulate`) by name, so an install without it still runs.
"""
