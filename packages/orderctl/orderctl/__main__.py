"""``python -m orderctl``: the same CLI, for when the script is not on PATH (and for tests)."""

from orderctl.cli import main

if __name__ == "__main__":
    main()
