"""Credit side of spotcheck: the directories of enterprises and their credit records."""
