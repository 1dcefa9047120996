"""``python -m sklearn_catneuron``: the ``catneuron`` command line."""

from sklearn_catneuron.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
