"""`python -m cli`: the `ewarn` command without the installed script."""

from cli.main import main

main()
