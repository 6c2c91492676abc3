"""``countermap config example``: the shipped example configuration, every setting with its default.

An installed wheel has no checkout to copy ``data/config.example.yaml`` from; this prints it::

    countermap config example > /etc/countermap/countermap.yaml
"""

from __future__ import annotations

import argparse
import sys

from countermap_data import shipped


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="configuration: print the example file (every setting)")
    what = p.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    example = what.add_parser("example", help="print the example configuration (YAML) to edit")
    example.set_defaults(func=run_example)


def run_example(args: argparse.Namespace) -> int:
    sys.stdout.write(shipped("config.example.yaml").read_text(encoding="utf-8"))
    return 0
