"""`sc-viz deck build`: precompute a talk's views into a deck the app shows without waiting."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from sc_viz.deck import build_deck

EPILOG = """examples:
  sc-viz deck build talk.json --out deck/
  streamlit run app.py -- then: sidebar > Deck > Deck folder: deck/, Presentation mode,
      keys N and P step through the slides

A talk is what the app's "Add to deck" button writes (sidebar > Deck): one slide per view,
a Saliency slide with every setting of its grid (the export bundle's settings.json).
Every page's per-image results are computed into the deck (maps, PGD, channel probes,
sanity checks, distance scores, projections with the test set); a Models slide reads the
manifests only and is kept as a view, as is an Embeddings slide whose same-class images
are a folder or files chosen on the day.
Building again after Ctrl-C keeps what was done; a slide whose weights, image or settings
changed is computed again. Decks are caches keyed by the weights' sha256: a deck built for
other weights is never shown."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "deck",
        help="prepared decks for talks: precompute the views of a talk file",
        description="Prepared decks: the app's presentation mode steps through a deck's "
        "slides (keys N and P) and shows each slide's results from the deck, without computing.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="deck_command", required=True, metavar="ACTION")
    b = sub.add_parser(
        "build",
        help="compute every result a talk shows into a deck folder",
        description="Compute every result of the talk's slides into DECK (manifest.json + one "
        "file per Saliency unit or per piece of another page's work: a variant's PGD, its "
        "maps, channel probes, a sanity unit, distance scores, a projection).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    b.add_argument("talk", help="talk file (JSON, as the app's Add to deck writes it)")
    b.add_argument("--out", required=True, help="deck folder (created; an existing deck is updated)")
    b.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    b.add_argument("--data-root", help="data folder for test images (default: $SC_VIZ_DATA)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=run)


def run(args) -> int:
    # The app's pages know what their slides compute; imported here, not at the top, so
    # the other commands do not load streamlit with them. Its log says "No runtime found"
    # for each cached page function outside a server: true, and no concern of a build's.
    from streamlit.logger import set_log_level

    set_log_level("error")
    from sc_viz.app.slide_work import PAGES

    bar = tqdm(total=0, desc="deck", unit="step", disable=args.no_progress, file=sys.stderr)

    def progress(done: int, total: int, label: str) -> None:
        bar.total = total
        bar.set_postfix_str(label)
        bar.update(done - bar.n)

    try:
        deck, computed, kept = build_deck(
            args.talk, args.out, pages=PAGES, device=args.device, data_root=args.data_root, progress=progress
        )
    except KeyboardInterrupt:
        bar.close()
        print(
            f"sc-viz deck: interrupted; {args.out} is half-written and the app will not show it. "
            "Run the same command again to finish it (what was done is kept).",
            file=sys.stderr,
        )
        return 130
    bar.close()
    for number, slide in enumerate(deck.slides, 1):
        if slide.get("note"):
            print(f"slide {number} ({slide['page']}): {slide['note']}", file=sys.stderr)
    units = sum(len(s["units"]) for s in deck.slides)
    print(f"wrote {deck.path}: {len(deck.slides)} slides, {units} results ({computed} computed, {kept} kept)")
    return 0
