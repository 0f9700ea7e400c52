"""Automatic triggers: JMA disaster-information XML and CAP 1.2 alerts into campaign decisions.

See README.md in this folder for the rules; `service.TriggerService` is the entry point of the server,
`replay.replay` the one of `safetynet triggers replay` and of the tests.
"""
