"""Labeled datasets out of the console: immutable, versioned exports a training pipeline can trust.

``spec`` says what an export is made of, ``rows`` reads the labels into rows, ``formats`` writes
them, ``card`` describes them and ``services`` runs an export from request to published version.
"""
