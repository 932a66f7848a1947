#!/usr/bin/env python3
"""Generate realistic directory CSV files at any size: the command line of credit/synthetic.py.

    python bench/generate.py --enterprises 1000 --out /tmp/gen
"""

from __future__ import annotations

import sys
from pathlib import Path

from credit.synthetic import main

if __name__ == "__main__":
    sys.exit(main(default_out=Path(__file__).resolve().parent / "out"))
