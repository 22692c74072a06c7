"""``python -m thermospu.host_kfac.cli``: the ``thermospu`` command."""
import sys

from . import main

sys.exit(main())
