"""python -m dirsrvbeat.kibana export|validate|import|fields-doc

  export DIR                 write DIR/7/dirsrvbeat.ndjson (the repository's kibana/ is this export)
  validate FILE [--target V] offline checks (JSON, stringified fields, references, versions, fields)
  import URL [--space S]     import through the saved objects API (as `dirsrvbeat setup --kibana`)
  fields-doc [-o FILE]       the Markdown field reference generated from fields/*.yml

Exit codes: 0 ok, 1 problems found / import failed, 2 usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import KibanaError, export, import_saved_objects, objects, validate
from .fieldsdoc import render


def _secret(path: str | None, env: str) -> str | None:
    if path:
        return Path(path).read_text(encoding="utf-8").strip("\r\n")
    return os.environ.get(env) or None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dirsrvbeat.kibana", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="write the saved objects to DIR/<format>/")
    e.add_argument("directory")
    e.add_argument("--prefix", default="dirsrvbeat", help="index prefix (data view titles)")
    v = sub.add_parser("validate", help="offline checks of an ndjson file")
    v.add_argument("file")
    v.add_argument("--target", default=".".join(map(str, objects.MIN_KIBANA)), help="Kibana version X.Y.Z")
    i = sub.add_parser("import", help="import into Kibana through the saved objects API")
    i.add_argument("url")
    i.add_argument("--space")
    i.add_argument("--prefix", default="dirsrvbeat")
    i.add_argument("--username")
    i.add_argument("--password-file", help="else $DIRSRVBEAT_KIBANA_PASSWORD")
    i.add_argument("--api-key-file", help="else $DIRSRVBEAT_KIBANA_API_KEY")
    i.add_argument("--ca-file")
    i.add_argument("--insecure", action="store_true")
    i.add_argument("--no-overwrite", action="store_true")
    f = sub.add_parser("fields-doc", help="the Markdown field reference")
    f.add_argument("-o", "--output", help="file (default stdout)")
    args = p.parse_args(argv)

    if args.cmd == "export":
        for path in export(args.directory, args.prefix):
            print(path)
        return 0
    if args.cmd == "validate":
        try:
            target = validate.parse_version(args.target)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        problems = validate.validate(Path(args.file).read_bytes(), target=target)
        for problem in problems:
            print(problem)
        print(f"{args.file}: {len(problems)} problem(s) for Kibana {args.target}", file=sys.stderr)
        return 1 if problems else 0
    if args.cmd == "import":
        try:
            report = import_saved_objects(
                args.url, space=args.space, username=args.username,
                password=_secret(args.password_file, "DIRSRVBEAT_KIBANA_PASSWORD") if args.username else None,
                api_key=_secret(args.api_key_file, "DIRSRVBEAT_KIBANA_API_KEY"), ca_file=args.ca_file,
                verify=not args.insecure, overwrite=not args.no_overwrite, prefix=args.prefix)
        except (KibanaError, ValueError, OSError) as exc:
            print(f"kibana: {exc}", file=sys.stderr)
            return 1
        print("\n".join(report.lines()))
        return 0 if report.ok else 1
    text = render()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
