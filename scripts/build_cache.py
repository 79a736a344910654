"""Decode the test images of every pack the app finds (checkpoints/, $SC_VIZ_PACKS) into
the on-disk cache ($SC_VIZ_CACHE, else ~/.cache/sc_viz), so that the app's first visit
reads it instead of decoding. scripts/setup.sh runs it; quick when the cache is there.

.venv/bin/python scripts/build_cache.py [PACK_OR_FOLDER ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

from sc_viz.app import catalog
from sc_viz.app.gallery import prepare_test_sets
from sc_viz.data import cache_dir, data_root

REPO = Path(__file__).resolve().parents[1]


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or catalog.pack_roots(REPO)
    packs = catalog.discover_packs(roots)
    say(f"test-image cache: {cache_dir() / 'arrays'} (data root {data_root()}, {len(packs)} pack(s))")
    prepare_test_sets(packs, say=say)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
