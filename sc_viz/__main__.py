import sys

from sc_viz.cli import main

sys.exit(main())
