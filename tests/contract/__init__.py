"""The store's contract suite: every port's behaviour, held against every adapter (see conftest.ADAPTERS).

A package, so its conftest and helpers do not shadow the top-level test modules of the same names.
"""
