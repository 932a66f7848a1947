"""The ``spotcheck`` command line: a thin click shell over the services."""

from credit.memory import no_huge_page_advice

no_huge_page_advice()  # before anything imports numpy (credit.memory says why)
