"""``python -m genkeras``: the command line, without the console script."""

from genkeras.cli import main

if __name__ == "__main__":  # pragma: no cover
    main(prog_name="genkeras")
