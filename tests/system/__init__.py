"""System tests: the installed `spotcheck` console script run as real processes, concurrently and
killed in the middle of its work, against SQLite and PostgreSQL."""
