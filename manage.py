#!/usr/bin/env python
"""Django's command-line entry point for Tracewatch."""

import os
import sys


def main() -> None:
    from config.devenv import load_dev_env

    load_dev_env()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
