"""Steps 1-7 of ``ethoprism app`` on two whole real videos, in a real browser, timed.

    python benchmarks/app_walkthrough.py [--work /tmp/ethoprism-bench] [--screenshot app.png]

The browser test (``tests/app/test_browser.py``) runs on 90-frame cuts to stay quick in CI; this
script does the same session a person would on the full recordings: the SLEAP fly clip (1,500
frames, 1024 px, H.264 yuv420p: played directly) and the DeepLabCut open-field mouse (2,330
frames, 640x480, yuv444p: browsers cannot play it, so the app makes a proxy). Embeddings: the
offline default (EfficientNet-Lite0, tiled), extracted once into ``--work``.

Labels: one bout is marked with the keyboard (``s`` ... ``s``) on the mouse; then the fly's
``walk``/``still`` bouts derived from its user-labelled pose (thorax speed, see
``behaviour_sets.py``) and frames ``0-199`` / ``1200-1399`` of the mouse as ``still`` / ``walk``
are PUT through the labels API, as a longer keyboard session would leave them (the mouse's are
arbitrary: the held-out mAP, trained on one species and tested on the other, is not a quality
measure here). Each step prints what it checked and how long it took. Needs Debian's
``chromium`` and ``chromium-driver``.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "app"))  # the browser test's helpers
import behaviour_sets as sets  # noqa: E402
from browser import chromium, frame_shown, press, serve, wait_for  # noqa: E402

from ethoprism.app.project import Project  # noqa: E402
from ethoprism.labels.model import bouts_from_mask  # noqa: E402

OPENFIELD = sets.SHARED / "dlc_openfield_mouse/m3v1mp4.mp4"
TOKEN = "walkthrough"


def wait(driver, script: str):
    return wait_for(driver, script, timeout=600)  # whole videos: proxies and training take longer


def main() -> None:
    from selenium.webdriver.common.keys import Keys

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ethoprism-bench")
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args()
    store = args.work / "app-walkthrough"
    rows = []

    def step(name: str, started: float, result: str):
        rows.append((name, time.perf_counter() - started, result))
        print(f"{name}: {rows[-1][1]:.1f} s, {result}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    _, seconds, frames = sets.extract([sets.FLY_VIDEO, OPENFIELD], "effnet-lite0", store)
    step("0. extract (once; cached afterwards)", started, f"{frames} frames embedded in {seconds:.0f} s")

    labels = Path(tempfile.mkdtemp()) / "labels.csv"
    project = Project(store, labels)
    fly, mouse = sets.FLY_VIDEO.name, OPENFIELD.name
    url, server = serve(project, TOKEN)
    driver = chromium(script_timeout=600)
    try:
        # 1. watch: the mouse first (yuv444p: a proxy is made, with progress), then frame stepping
        started = time.perf_counter()
        driver.get(f"{url}/?token={TOKEN}")
        wait(driver, "return document.getElementById('player').dataset.ready === '1'")
        from selenium.webdriver.support.ui import Select

        Select(driver.find_element("id", "video")).select_by_value(mouse)
        wait(driver, f"return state.video.name === '{mouse}' && player.dataset.ready === '1'")
        step("1. watch: open the mouse video (proxy made)", started, f"proxy {project.proxy_status(mouse)}")
        started = time.perf_counter()
        driver.find_element("tag name", "body").click()
        press(driver, *[Keys.ARROW_RIGHT] * 5, (Keys.SHIFT, Keys.ARROW_RIGHT))
        wait(driver, "return document.getElementById('frame').textContent === '15'")
        press(driver, Keys.ARROW_LEFT)
        wait(driver, "return document.getElementById('frame').textContent === '14'")
        step("1. watch: step frames with the keys", started, f"frame shown {frame_shown(driver)}")
        # 2. ethogram: zoom to single frames and back
        started = time.perf_counter()
        for _ in range(30):
            driver.execute_script(
                "document.getElementById('timeline').dispatchEvent(new WheelEvent('wheel', "
                "{deltaY: -100, clientX: 200, bubbles: true, cancelable: true}))"
            )
        span = driver.execute_script("return state.view[1] - state.view[0]")
        step("2. ethogram: zoom in with the wheel", started, f"view spans {span:.0f} of 2330 frames")
        # 3. label with the keyboard on both videos, then the longer session's bouts through the API
        started = time.perf_counter()
        for name in ("still", "walk"):
            driver.find_element("id", "new-behavior").send_keys(name + Keys.ENTER)
        wait(driver, "return state.behaviors.length === 2")
        driver.find_element("tag name", "body").click()
        press(driver, "1", "s", *[(Keys.SHIFT, Keys.ARROW_RIGHT)] * 5, "s")
        wait(driver, "return state.bouts.length === 1")
        step("3. label: a bout with s ... s", started, str(project.labels()["bouts"]))
        walk = sets.fly_labels()[:, 0] > 0
        bouts = [
            {"video": fly, "behavior": "walk" if on else "still", "start_frame": int(s), "end_frame": int(e)}
            for on in (True, False)
            for s, e in bouts_from_mask(walk if on else ~walk)
        ]
        bouts += [
            {"video": mouse, "behavior": "still", "start_frame": 0, "end_frame": 199},
            {"video": mouse, "behavior": "walk", "start_frame": 1200, "end_frame": 1399},
        ]
        project.set_labels(["still", "walk"], bouts)
        driver.refresh()
        wait(driver, "return document.getElementById('player').dataset.ready === '1'")
        # 4. train from the page: predictions, then held-out metrics (2 labelled videos)
        for head in ("linear", "temporal"):
            started = time.perf_counter()
            Select(driver.find_element("id", "head-kind")).select_by_visible_text(head)
            driver.find_element("id", "train").click()
            wait(driver, "return document.getElementById('status').textContent.startsWith('trained')")
            step(f"4. train {head}: predictions shown", started, driver.find_element("id", "status").text)
            wait(driver, "return /held-out mAP \\d/.test(document.getElementById('metrics').textContent)")
            step(
                f"4. train {head}: held-out metrics shown", started, driver.find_element("id", "metrics").text
            )
            driver.execute_script("document.getElementById('status').textContent = ''")
        if args.screenshot:
            driver.save_screenshot(str(args.screenshot))
        # 5. suggestions: accept the first, the player jumps there
        started = time.perf_counter()
        driver.find_element("id", "suggest").click()
        wait(driver, "return document.querySelectorAll('#suggestions li').length > 0")
        first = project.suggest(10)[0]
        driver.find_elements("css selector", "#suggestions li")[0].click()
        wait(driver, f"return document.getElementById('frame').textContent === '{first['start_frame']}'")
        step("5. suggest and accept", started, f"{first['video']} frame {first['start_frame']}")
        # 6. similar to the bout under the cursor: the hits list, a click jumps
        started = time.perf_counter()
        driver.find_element("tag name", "body").click()
        press(driver, "f")
        wait(driver, "return document.querySelectorAll('#similar li').length > 0")
        hits = driver.execute_script("return document.querySelectorAll('#similar li').length")
        driver.find_elements("css selector", "#similar li")[0].click()
        step("6. find similar, jump to a hit", started, f"{hits} hits")
        # 7. export every format and read it back
        started = time.perf_counter()
        sizes = {}
        for fmt in ("bouts", "boris", "deepethogram", "nwb"):
            body = driver.execute_async_script(
                "const done = arguments[arguments.length - 1]; fetch('/api/export/' + arguments[0])"
                ".then(r => r.arrayBuffer()).then(b => done(Array.from(new Uint8Array(b))));",
                fmt,
            )
            sizes[fmt] = bytes(body)
        nwb = [name for name in _zip_names(sizes["nwb"]) if name.endswith(".nwb")]
        problems = _validate_nwb(sizes["nwb"])
        step(
            "7. export bouts, BORIS, DeepEthogram, NWB",
            started,
            ", ".join(f"{k} {len(v):,} B" for k, v in sizes.items())
            + f"; NWB files {nwb}, problems {problems}",
        )
    finally:
        driver.quit()
        server.should_exit = True
    print("\n| step | seconds | result |\n| --- | --- | --- |")
    for name, seconds, result in rows:
        print(f"| {name} | {seconds:.1f} | {result} |")


def _zip_names(data: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(data)).namelist()


def _validate_nwb(data: bytes) -> int:
    """Problems pynwb's validator finds in the exported NWB files (0 is good)."""
    from pynwb import validate

    folder = Path(tempfile.mkdtemp())
    zipfile.ZipFile(io.BytesIO(data)).extractall(folder)
    return sum(len(list(validate(path=str(path)))) for path in folder.rglob("*.nwb"))


if __name__ == "__main__":
    main()
