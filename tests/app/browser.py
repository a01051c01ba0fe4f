"""Driving ethoprism app in headless Chromium (Selenium): shared by the browser test and by
``benchmarks/app_walkthrough.py`` (which puts this folder on its path). No pytest here."""

from __future__ import annotations

import shutil
import socket
import threading
import time

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")


def serve(project, token: str):
    """ethoprism app on a free local port in a background thread -> (url, uvicorn server)."""
    import uvicorn

    from ethoprism.app.server import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(project, token), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def chromium(script_timeout: float = 120):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_script_timeout(script_timeout)
    return driver


def wait_for(driver, script: str, timeout: float = 60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    shown = driver.execute_script("return document.getElementById('frame').textContent")
    raise AssertionError(f"timed out waiting for: {script} (frame shown: {shown})")


def press(driver, *keys):
    """Keys in order; a (modifier, key) pair is pressed as a chord."""
    from selenium.webdriver.common.action_chains import ActionChains

    actions = ActionChains(driver)
    for key in keys:
        if isinstance(key, tuple):
            modifier, key = key
            actions.key_down(modifier).send_keys(key).key_up(modifier)
        else:
            actions.send_keys(key)
    actions.perform()


def frame_shown(driver) -> int:
    return int(driver.find_element("id", "frame").text)


def drag_on_timeline(driver, from_frame: int, to_frame: int, y: int = 25):
    """Drag with the mouse along the timeline's label band, from one frame boundary to another."""
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = driver.find_element("id", "timeline")
    where = (
        "const r = document.getElementById('timeline').getBoundingClientRect(); const [v0, v1] = state.view;"
        "return [Math.round((arguments[0] - v0) / (v1 - v0) * r.width - r.width / 2),"
        " Math.round(arguments[1] - r.height / 2)];"
    )
    start, end = (driver.execute_script(where, f, y) for f in (from_frame, to_frame))
    chain = ActionChains(driver).move_to_element_with_offset(canvas, *start).click_and_hold()
    chain.move_to_element_with_offset(canvas, *end).release().perform()
