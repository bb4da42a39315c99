"""Screenshots of a report page with the machine's headless Chromium (`make report` writes index.png).

    python -m chain.bench.browser report/index.html report/index.png [--width 1280]

The full page is captured: a first headless run dumps the DOM, in which the report's own script has recorded
the page height (`data-page-height`), and the second takes the screenshot with a window that tall. A page
without that attribute is captured at DEFAULT_HEIGHT.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from chain.errors import ChainError, ConfigError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DEFAULT_HEIGHT = 3000
MAX_HEIGHT = 16384  # beyond this Chromium's compositor tiles give up on a single screenshot
TIMEOUT_S = 120


class BrowserUnavailable(ConfigError):
    """No Chromium-family browser could be found (or CHAIN_CHROMIUM names none)."""


class BrowserFailed(ChainError):
    """The browser ran but did not produce what was asked."""


def find_chromium() -> str:
    """The browser to use: $CHAIN_CHROMIUM when set, else the first of CANDIDATES on PATH."""
    override = os.environ.get("CHAIN_CHROMIUM")
    if override:
        found = shutil.which(override)
        if not found:
            raise BrowserUnavailable(f"CHAIN_CHROMIUM={override!r} is not an executable browser")
        return found
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserUnavailable(
        f"no headless browser found: none of {', '.join(CANDIDATES)} is on PATH; install Debian's `chromium` "
        "package or point CHAIN_CHROMIUM at a Chromium or Chrome executable"
    )


def _run(browser: str, args: list[str], profile_dir: str) -> subprocess.CompletedProcess:
    # A fresh profile per run lets several screenshots run at once; --no-sandbox because CI runs as root.
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--mute-audio",
        "--no-first-run",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile_dir}",
        *args,
    ]
    try:
        return subprocess.run(command, capture_output=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise BrowserFailed(f"{browser} did not finish within {TIMEOUT_S} s") from e


def page_height(html: Path, width: int = 1280, browser: str | None = None) -> int | None:
    """The height the report recorded for itself when laid out `width` pixels wide, or None."""
    browser = browser or find_chromium()
    with tempfile.TemporaryDirectory(prefix="chain-chromium-") as profile:
        proc = _run(browser, ["--dump-dom", f"--window-size={width},900", Path(html).resolve().as_uri()], profile)
    found = re.search(rb'data-page-height="(\d+)"', proc.stdout)
    return int(found.group(1)) if found else None


def screenshot(html: Path, png: Path, width: int = 1280, height: int | None = None) -> Path:
    """Write a PNG of the whole page `html`, `width` pixels wide; returns `png`."""
    browser = find_chromium()
    html, png = Path(html).resolve(), Path(png).resolve()
    if not html.is_file():
        raise BrowserFailed(f"{html}: no such page")
    height = height or page_height(html, width, browser) or DEFAULT_HEIGHT
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chain-chromium-") as profile:
        proc = _run(
            browser, [f"--screenshot={png}", f"--window-size={width},{min(height, MAX_HEIGHT)}", html.as_uri()], profile
        )
    if not png.is_file() or png.stat().st_size == 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise BrowserFailed(f"{browser} wrote no screenshot of {html} (exit {proc.returncode}): " + " | ".join(tail))
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chain.bench.browser", description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args(argv)
    try:
        print(screenshot(args.html, args.png, args.width))
    except ChainError as e:
        print(f"chain: {e}", file=sys.stderr)
        return int(e.exit_status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
