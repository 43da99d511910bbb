"""Print requirements.txt with every lower bound pinned exactly: the oldest versions the bounds allow.

`make test-compat` installs these into a second environment and runs the tests that matter to a
user on old preinstalled versions (Colab's): the smoke notebook, the plain-Keras load of the saved
models, and prediction. A bound that this does not prove must not be promised.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

for line in Path(sys.argv[1] if len(sys.argv) > 1 else "requirements.txt").read_text().splitlines():
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    found = re.match(r"([A-Za-z0-9_.\[\]-]+)\s*>=\s*([0-9][0-9.]*)", line)
    if found is None:
        sys.exit(f"requirements.txt: {line!r} has no lower bound to pin")
    print(f"{found.group(1)}=={found.group(2)}")
