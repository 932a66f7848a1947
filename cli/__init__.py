"""The ``spotcheck`` command line: a thin click shell over the services."""
