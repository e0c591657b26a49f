"""`python -m hyperhive` is the `hyperhive` command."""

import sys

from hyperhive.cli import main

sys.exit(main())
