#!/usr/bin/env python3
"""docs/review.png and docs/dashboard.png: the console on the demo's data (embedded throwaway PostgreSQL, waitress on
a free local port), photographed by Debian's chromium through Playwright. Run with `make screenshots`."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import waitress
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import runner  # noqa: E402
from mlops_dedup.webconsole import create_app  # noqa: E402
from mlops_dedup.webconsole.server import demo_database  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1360, "height": 900}


def photograph(base_url: str, out_dir: Path) -> list[Path]:
    """The review page (first pending letter pair) and the dashboard with its charts drawn."""
    saved = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(base_url=base_url, viewport=VIEWPORT, device_scale_factor=1)
        page.goto("/review?target=mlops.cover_letter_samples")
        page.screenshot(path=out_dir / "review.png", full_page=True)
        saved.append(out_dir / "review.png")
        page.goto("/")
        page.wait_for_function("document.querySelectorAll('.plot .main-svg').length > 0")
        page.wait_for_timeout(500)  # plotly's transitions
        page.screenshot(path=out_dir / "dashboard.png", full_page=True)
        saved.append(out_dir / "dashboard.png")
        browser.close()
    return saved


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 1
    with demo_database() as dsn:
        server = waitress.create_server(create_app(dsn), host="127.0.0.1", port=0, threads=2)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            for path in photograph(f"http://127.0.0.1:{server.effective_port}", ROOT / "docs"):
                print(f"saved {path.relative_to(ROOT)}")
        finally:
            server.close()
            thread.join(timeout=10)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except runner.RunnerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
