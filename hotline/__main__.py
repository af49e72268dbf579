"""``python -m hotline`` runs the CLI."""

from hotline.cli import main

raise SystemExit(main())
