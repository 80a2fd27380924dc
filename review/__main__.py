"""Write the leadership review as one HTML file.

python -m review --start 2026-08-01 --end 2026-10-31 --out review.html
python -m review digest [--as-of DATE] [--state FILE] [--out DIR] [--webhook URL] [--source NAME]
(the morning digest: review/digest.py, docs/digest.md)
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from metrics.targets import VisionError


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-10-31") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["digest"]:
        from review import digest

        return digest.main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m review",
        description="Write the leadership review (scorecard and key charts) as one HTML file "
        "that opens offline. KPIs are judged as of the day after --end.",
    )
    parser.add_argument("--start", type=_date, required=True, help="first day shown (YYYY-MM-DD)")
    parser.add_argument("--end", type=_date, required=True, help="last day shown (YYYY-MM-DD)")
    parser.add_argument("--out", type=Path, default=Path("review.html"), help="the file to write")
    parser.add_argument(
        "--vision",
        default=None,
        help="the vision file (default: the source's own, as sources.toml names it; the demo's "
        "is vision.toml)",
    )
    parser.add_argument(
        "--source", default=None, help="a source of sources.toml (default: its default)"
    )
    parser.add_argument("--tz", default="UTC", help="reporting time zone (IANA name)")
    args = parser.parse_args(argv)
    if args.end < args.start:
        parser.error(f"--end ({args.end}) is before --start ({args.start})")

    from connectors import ConnectorError
    from review import build

    try:
        text = build(
            start=args.start, end=args.end, vision_path=args.vision, source=args.source, tz=args.tz
        )
    except VisionError as exc:
        print(f"The vision file has {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    except (ConnectorError, ValueError) as exc:
        print(f"Cannot write the review: {exc}", file=sys.stderr)
        return 2
    args.out.write_text(text, encoding="utf-8")
    size = args.out.stat().st_size / 1e6
    print(f"Wrote {args.out} ({size:.1f} MB): open it in any browser, or attach it to an email.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
