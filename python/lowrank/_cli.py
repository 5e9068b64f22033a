"""Where the ``lowrank`` command is: ``python -m lowrank`` runs that binary (it does not re-implement
the command line). In the project's build it is BUILD/lowrank, next to this package; in a wheel it
ships inside the package (lowrank/bin/lowrank). ``LOWRANK_EXECUTABLE`` overrides both."""
from __future__ import annotations

import os

try:
    from . import _build
except ImportError:  # a source checkout imported without building
    _build = None


def executable() -> str:
    """Path of the ``lowrank`` binary this package was built with; raises ``FileNotFoundError``."""
    tried = []
    env = os.environ.get("LOWRANK_EXECUTABLE")
    candidates = [env] if env else []
    if _build is not None and _build.EXECUTABLE:
        candidates.append(_build.EXECUTABLE)
    candidates.append(os.path.join(os.path.dirname(__file__), "bin", "lowrank"))
    for c in candidates:
        tried.append(c)
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise FileNotFoundError("the lowrank binary is not where this package expects it (tried " + ", ".join(tried) +
                            "); build the project (scripts/setup.sh) or set LOWRANK_EXECUTABLE")
