"""``python -m dlcourse`` is the ``dlcourse`` command."""

import sys

from .cli import main

sys.exit(main())
