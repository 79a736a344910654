"""Move a variant trained in a staging pack into a shipped pack (packs.adopt_variant: the
weights file, its manifest entry plus the fields of --extra, its training-log records).
Used for the demo pack's retrained `gsct` and `spat` (docs/related_methods.md):

    .venv/bin/python scripts/adopt_variant.py runs/gsct-retrain checkpoints/cifar10-resnet20 gsct \\
        --extra '{"first_reading": {...}}'

Then update the report for that variant only: `sc-viz eval --variants gsct ...`.
"""

from __future__ import annotations

import argparse
import json
import sys

from sc_viz.packs import adopt_variant


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", help="staging pack folder the variant was trained in")
    p.add_argument("dst", help="pack folder to move it into")
    p.add_argument("variant")
    p.add_argument("--extra", default="{}", help="JSON object of fields added to the manifest entry")
    args = p.parse_args(argv)
    entry = adopt_variant(args.src, args.dst, args.variant, json.loads(args.extra))
    metrics = entry.get("metrics", {})
    print(f"{args.variant} -> {args.dst}: clean {metrics.get('clean_acc')} PGD {metrics.get('pgd_acc')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
