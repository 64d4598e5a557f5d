"""Signals detection sends, so that apps built on it react without being imported here."""

from django.dispatch import Signal

# Sent inside the transaction that stores a scan's findings, once per scanned trace that has any:
# ``trace_id`` and ``findings``, the rows just stored. A receiver's writes commit or roll back
# with them; a rescan that finds the same evidence again sends it again, with new rows.
findings_stored = Signal()
