"""The ``hotline`` command: serve, db upgrade, load/export, prompts, demo, simulate, api-key.

Every failure the user can fix (a wrong setting, an unreachable database, a bad YAML file)
ends with one line on stderr that names what is wrong, and a non-zero exit; never a
traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from domain.prompts import PROMPT_LANGUAGES
from hotline.commands import CommandError
from hotline.config import ConfigError, Settings, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotline", description="Hotline, a contact-centre system for Asterisk."
    )
    parser.add_argument(
        "--config", type=Path, help="a YAML settings file (else HOTLINE_CONFIG, else none)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("serve", help="run FastAGI, the web desktop and the AMI client in one process")

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    db_sub.add_parser("upgrade", help="create the database or upgrade it to the current schema")

    load = sub.add_parser("load", help="load contact-centre data from a YAML file")
    load.add_argument("file", type=Path)
    export = sub.add_parser("export", help="export contact-centre data to a YAML file")
    export.add_argument("file", help="the file to write, or - for standard output")

    prompts = sub.add_parser(
        "prompts",
        help="speak every prompt into Asterisk's sounds directory, English and Czech (R-6.4)",
    )
    prompts.add_argument(
        "--dir", type=Path, help="the sounds directory (default: HOTLINE_SOUNDS_DIR)"
    )
    prompts.add_argument(
        "--list", action="store_true", help="list each prompt, its words and whether it exists"
    )
    prompts.add_argument(
        "--force", action="store_true", help="replace existing files (recordings too)"
    )
    prompts.add_argument(
        "--language", choices=PROMPT_LANGUAGES, help="only this language (default: all)"
    )

    demo = sub.add_parser(
        "demo", help="a fresh SQLite database with demo data, then serve (with simulated calls)"
    )
    demo.add_argument(
        "--database",
        type=Path,
        default=Path("hotline-demo.db"),
        help="the demo's SQLite file, recreated on every start (default: hotline-demo.db)",
    )
    demo.add_argument("--no-traffic", action="store_true", help="do not simulate callers")
    demo.add_argument(
        "--real-hours",
        action="store_true",
        help="keep the demo centre's opening hours (by default queues are open around the clock)",
    )

    api_key = sub.add_parser("api-key", help="keys of the call records API (docs/api.md)")
    key_sub = api_key.add_subparsers(dest="key_command", required=True, metavar="KEY_COMMAND")
    create = key_sub.add_parser("create", help="make a key; it is printed once")
    create.add_argument("--name", required=True, help="the integration that uses it")
    create.add_argument(
        "--queue", action="append", required=True, help="code of a queue it may read (repeat)"
    )
    key_sub.add_parser("list", help="list the keys")
    revoke = key_sub.add_parser("revoke", help="revoke a key")
    revoke.add_argument("id", type=int, help="the key's id (see list)")

    simulate = sub.add_parser(
        "simulate",
        help="play Asterisk against a running Hotline (see hotline simulate -h)",
        add_help=False,
    )
    simulate.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["simulate"]:
        # The simulator has its own options (and --help); hand it everything after the word.
        from simulator.cli import main as simulate_main

        return simulate_main(words[1:])
    args = _parser().parse_args(words)
    try:
        settings = load_settings(config_file=args.config)
        return _run(args, settings)
    except ConfigError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 1
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        print(f"hotline: database unavailable: {reason}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from hotline import commands

    if args.command == "db":
        commands.upgrade_database(settings)
        print(f"database at {_safe_url(settings.database_url)} is at the current schema")
        return 0
    if args.command == "load":
        summary = commands.load_file(settings, args.file)
        print(summary)
        return 0
    if args.command == "export":
        text = commands.export_text(settings)
        if args.file == "-":
            sys.stdout.write(text)
        else:
            Path(args.file).write_text(text, encoding="utf-8")
            print(f"exported to {args.file}")
        return 0
    if args.command == "prompts":
        lines = commands.prompts(
            settings,
            args.dir or settings.sounds_dir,
            languages=[args.language] if args.language else PROMPT_LANGUAGES,
            list_only=args.list,
            force=args.force,
        )
        print("\n".join(lines))
        return 0
    if args.command == "api-key":
        print("\n".join(commands.api_key(settings, args)))
        return 0
    if args.command == "serve":
        return commands.serve(settings)
    if args.command == "demo":
        return commands.demo(
            settings, args.database, traffic=not args.no_traffic, real_hours=args.real_hours
        )
    raise CommandError(f"unknown command {args.command!r}")


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "<database>"


if __name__ == "__main__":  # pragma: no cover - python -m hotline.cli
    raise SystemExit(main())
