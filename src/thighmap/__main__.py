from thighmap.cli import main

raise SystemExit(main())
