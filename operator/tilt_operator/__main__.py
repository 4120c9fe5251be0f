"""``python -m tilt_operator``: the ``tilt-operator`` command (see :mod:`tilt_operator.cli.operator`)."""

from tilt_operator.cli.operator import main

if __name__ == "__main__":
    main()
