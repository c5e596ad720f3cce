"""`python -m hearth`: the working directory leaves sys.path before anything else is imported."""

from hearth.safepath import isolate

isolate()

from hearth.cli import main  # noqa: E402  (after isolate: nothing may be imported from the workspace)

raise SystemExit(main())
