import sys

from vunet_studio.cli import main

sys.exit(main())
