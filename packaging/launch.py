"""Entry point of the bundled application (PyInstaller runs this file)."""

from thighmap.cli import main

raise SystemExit(main())
