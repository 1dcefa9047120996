"""``python -m sklearn_catneuron``: the ``catneuron`` command line."""

from sklearn_catneuron.cli import _script_main

if __name__ == "__main__":
    raise SystemExit(_script_main())
