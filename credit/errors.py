"""Domain errors of spotcheck; the CLI turns each into a one-line message and exit 1."""

from __future__ import annotations


class SpotcheckError(Exception):
    """Base of every error a user can cause and fix."""


class SchemaNotAtHead(SpotcheckError):
    """The database schema is older or newer than this version of spotcheck."""


class ImportFileError(SpotcheckError):
    """The import file as a whole cannot be read (encoding, empty, columns, sheet)."""


class ExportError(SpotcheckError):
    """The export cannot be written as asked."""
