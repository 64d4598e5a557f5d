"""Signals the trace store sends, so that apps built on it react without being imported here."""

from django.dispatch import Signal

# Sent after the transaction that stored or replaced traces commits; ``trace_ids`` lists them.
traces_ingested = Signal()

# Sent when the API hands out one trace with its steps: ``trace`` is the Trace read.
trace_read = Signal()
