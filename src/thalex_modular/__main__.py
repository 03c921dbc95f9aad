import sys

from thalex_modular.deployment.cli import main

sys.exit(main())
