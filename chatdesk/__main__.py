"""`python -m chatdesk` is the same as the `chatdesk` command."""

import sys

from chatdesk.launcher import main

sys.exit(main())
