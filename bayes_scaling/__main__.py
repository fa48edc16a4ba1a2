from bayes_scaling.cli import main

raise SystemExit(main())
