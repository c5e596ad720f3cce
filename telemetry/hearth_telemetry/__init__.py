"""Hearth's local telemetry: the SQLite event store, privacy, the acceptance filter and reports.

Nothing in this package opens a network connection. The server reaches it
only through the event-sink interface (`TelemetrySink`) and the filter
model (`FilterModel`); the command line adds `stats`, `filter train` and
`telemetry export|wipe`.
"""
