from bayes_scaling.cli import console

raise SystemExit(console())
