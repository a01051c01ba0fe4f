"""ethoprism app in a real browser (headless Chromium through Selenium): watch frame by frame,
label a bout with the keyboard, train, see predictions, accept a suggestion, export."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from ethoprism.app.project import Project

from .browser import CHROMIUM, DRIVER, chromium, drag_on_timeline, frame_shown, press, serve, wait_for
from .conftest import bouts_for_two_videos

TOKEN = "browser-test-token"
SAVED = "return saver.running === null && document.getElementById('status').textContent === 'saved'"
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="chromium and chromedriver are not installed"
)


@pytest.fixture
def served(app_store, tmp_path):
    labels = tmp_path / "labels.csv"
    project = Project(app_store, labels)
    url, server = serve(project, TOKEN)
    yield url, project, labels
    server.should_exit = True


@pytest.fixture
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def test_watch_label_train_suggest_export(served, browser, tmp_path):
    from selenium.webdriver.common.keys import Keys

    url, project, labels = served
    browser.get(f"{url}/?token={TOKEN}")
    wait_for(browser, "return document.getElementById('player').dataset.ready === '1'")
    assert frame_shown(browser) == 0
    # frame by frame with the keyboard
    press(browser, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    wait_for(browser, "return document.getElementById('frame').textContent === '3'")
    press(browser, (Keys.SHIFT, Keys.ARROW_RIGHT))
    wait_for(browser, "return document.getElementById('frame').textContent === '13'")
    press(browser, Keys.ARROW_LEFT)
    wait_for(browser, "return document.getElementById('frame').textContent === '12'")
    # a behaviour, then a bout marked with s ... s
    browser.find_element("id", "new-behavior").send_keys("walk" + Keys.ENTER)
    wait_for(browser, "return state.behaviors.length === 1")
    browser.find_element("tag name", "body").click()
    press(browser, "1", "s")
    for _ in range(8):
        press(browser, Keys.ARROW_RIGHT)
    wait_for(browser, "return document.getElementById('frame').textContent === '20'")
    press(browser, "s")
    wait_for(browser, "return state.bouts.length === 1")
    wait_for(browser, SAVED)
    saved = pd.read_csv(labels)
    assert saved.to_dict("records") == [
        {"video": "fly.mp4", "behavior": "walk", "start_frame": 12, "end_frame": 20}
    ]
    # undo and redo reach the file too
    press(browser, (Keys.CONTROL, "z"))
    wait_for(browser, "return state.bouts.length === 0")
    press(browser, (Keys.CONTROL, "y"))
    wait_for(browser, "return state.bouts.length === 1")
    assert (
        browser.execute_script("return document.activeElement.tagName") == "BODY"
    )  # keys still reach the page
    # "]" outside the bout extends it to the cursor; dragging its start edge moves the start
    press(browser, (Keys.SHIFT, Keys.ARROW_RIGHT))
    wait_for(browser, "return document.getElementById('frame').textContent === '30'")
    press(browser, "]")
    wait_for(browser, "return state.bouts[0].end_frame === 30")
    drag_on_timeline(browser, 12, 5)
    wait_for(browser, "return state.bouts[0].start_frame === 5")
    wait_for(browser, SAVED)
    assert pd.read_csv(labels).to_dict("records") == [
        {"video": "fly.mp4", "behavior": "walk", "start_frame": 5, "end_frame": 30}
    ]
    # labels for both videos (as a session of labelling would leave them), then train from the page
    project.set_labels(**bouts_for_two_videos())
    browser.refresh()
    wait_for(browser, "return document.getElementById('player').dataset.ready === '1'")
    browser.find_element("id", "train").click()
    wait_for(
        browser, "return document.getElementById('status').textContent.startsWith('trained')", timeout=120
    )
    wait_for(browser, "return state.prediction && state.prediction.bouts.length > 0")
    # the metrics come after the predictions (a background leave-one-video-out); the page follows
    wait_for(browser, "return /held-out mAP \\d/.test(document.getElementById('metrics').textContent)", 60)
    assert "chance 0.500, 2 videos" in browser.find_element("id", "metrics").text
    browser.save_screenshot(str(tmp_path / "app.png"))
    if os.environ.get("ETHOPRISM_SCREENSHOT"):  # how docs/app.png is made
        browser.save_screenshot(os.environ["ETHOPRISM_SCREENSHOT"])
    assert (tmp_path / "app.png").stat().st_size > 10_000
    # suggestions: the mouse video once its labels are gone; accepting one jumps there
    fly_only = bouts_for_two_videos()
    project.set_labels(fly_only["behaviors"], [b for b in fly_only["bouts"] if b["video"] == "fly.mp4"])
    browser.find_element("id", "suggest").click()
    wait_for(browser, "return document.querySelectorAll('#suggestions li').length > 0")
    first = project.suggest(10)[0]
    browser.find_elements("css selector", "#suggestions li")[0].click()
    wait_for(browser, f"return document.getElementById('video').value === '{first['video']}'", timeout=120)
    wait_for(browser, f"return document.getElementById('frame').textContent === '{first['start_frame']}'")
    # export, read back
    exported = browser.execute_async_script(
        "const done = arguments[0]; fetch('/api/export/bouts').then(r => r.text()).then(done);"
    )
    assert exported.splitlines()[0] == "video,behavior,start_frame,end_frame" and "fly.mp4" in exported


def test_edits_faster_than_a_save_are_all_kept(served, browser):
    """Two deletions within one round trip (Delete twice fast): both reach the file, in order."""
    url, project, labels = served
    project.set_labels(**bouts_for_two_videos())
    browser.get(f"{url}/?token={TOKEN}")
    wait_for(browser, "return document.getElementById('player').dataset.ready === '1'")
    before = len(project.bouts)
    browser.execute_script(
        "edit((next) => next.bouts.splice(0, 1)); edit((next) => next.bouts.splice(0, 1));"
        "edit((next) => next.bouts.splice(0, 1));"
    )
    wait_for(browser, SAVED)
    assert len(pd.read_csv(labels)) == before - 3 == len(project.bouts)
    assert project.labels()["bouts"] == bouts_for_two_videos()["bouts"][3:]
    # an edit the server refuses (overlap in exclusive mode) is undone in the page, with the reason
    browser.execute_script(
        "edit((next) => next.bouts.push({...next.bouts[0], start_frame: next.bouts[0].start_frame}));"
    )
    wait_for(browser, "return document.getElementById('status').textContent.startsWith('not saved')")
    assert "overlap" in browser.find_element("id", "status").text
    assert browser.execute_script("return state.bouts.length") == before - 3


def test_jump_through_a_motif_and_name_it_into_labels(app_store, app_motifs, browser, tmp_path):
    labels = tmp_path / "labels.csv"
    project = Project(app_store, labels, motifs_dir=app_motifs)
    url, server = serve(project, TOKEN)
    try:
        browser.get(f"{url}/?token={TOKEN}")
        wait_for(browser, "return document.getElementById('player').dataset.ready === '1'")
        wait_for(browser, "return document.querySelectorAll('#motifs li').length === 2")
        bouts = project.motifs["bouts"]
        motif = 1
        # where the app must go from frame 0 of fly.mp4: this motif's next bout, else its first in mouse.mp4
        later = [
            (v, b[1])
            for v in ("fly.mp4", "mouse.mp4")
            for b in bouts[v]
            if b[0] == motif and (b[1] > 0 or v != "fly.mp4")
        ]
        item = browser.find_element("css selector", f"#motifs li[data-motif='{motif}']")
        item.find_elements("css selector", "span")[1].click()
        video, first = later[0]
        wait_for(
            browser,
            f"return state.video.name === '{video}' && "
            f"document.getElementById('frame').textContent === '{first}'",
        )
        item.find_element("tag name", "button").click()
        alert = browser.switch_to.alert
        alert.send_keys("groom")
        alert.accept()
        wait_for(browser, SAVED)
        saved = pd.read_csv(labels)
        expected = sorted(
            (video, a, b)
            for video, bouts in project.motifs["bouts"].items()
            for k, a, b in bouts
            if k == motif
        )
        assert sorted(zip(saved["video"], saved["start_frame"], saved["end_frame"])) == expected
        assert set(saved["behavior"]) == {"groom"}
    finally:
        server.should_exit = True


def test_label_the_animal_picked_on_the_video_and_see_one_row_per_animal(animal_store, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains

    labels = tmp_path / "labels.csv"
    project = Project(animal_store["store"], labels)
    url, server = serve(project, TOKEN)
    try:
        browser.get(f"{url}/?token={TOKEN}")
        wait_for(browser, "return document.getElementById('player').dataset.ready === '1'")
        assert browser.execute_script("return animals()") == ["female", "male"]
        wait_for(browser, "return document.getElementById('animal-info').textContent === 'animal: female'")
        browser.find_element("id", "new-behavior").send_keys("courting\n")
        wait_for(browser, "return state.behaviors.length === 1")
        browser.find_element("tag name", "body").click()
        # "a" picks the next animal; s ... s labels a bout of it
        press(browser, "a")
        wait_for(browser, "return state.animal === 'male'")
        press(browser, "1", "s", *["\ue014"] * 6, "s")  # six times the right arrow
        wait_for(browser, "return state.bouts.length === 1")
        wait_for(browser, SAVED)
        assert pd.read_csv(labels).to_dict("records") == [
            {
                "video": "fly_part0.mp4",
                "animal": "male",
                "behavior": "courting",
                "start_frame": 0,
                "end_frame": 6,
            }
        ]
        # clicking the female on the video makes her the labelled animal
        wait_for(browser, "return state.boxes.length === 2")
        female = next(b for b in project.animal_boxes("fly_part0.mp4", 6) if b["animal"] == "female")
        dx, dy = browser.execute_script(
            "const g = videoGeometry(), [x, y] = arguments;"
            "return [g.left + x * g.scale - g.rect.width / 2, g.top + y * g.scale - g.rect.height / 2];",
            (female["x0"] + female["x1"]) / 2,
            (female["y0"] + female["y1"]) / 2,
        )
        overlay = browser.find_element("id", "overlay")
        ActionChains(browser).move_to_element_with_offset(overlay, int(dx), int(dy)).click().perform()
        wait_for(browser, "return state.animal === 'female'")
        press(browser, "s", "\ue014", "\ue014", "s")
        wait_for(browser, "return state.bouts.length === 2")
        wait_for(browser, SAVED)
        saved = pd.read_csv(labels)
        assert list(saved.animal) == ["male", "female"] and list(saved.start_frame) == [0, 6]
        # one ethogram row per animal and behaviour: the female on top, the male below
        row = browser.execute_script("return rowAt(40)")
        assert row == {"animal": "male", "behavior": "courting"}
    finally:
        server.should_exit = True


def test_naming_a_per_animal_motif_labels_each_bout_on_its_own_animal(animal_store, browser, tmp_path):
    from typer.testing import CliRunner

    from ethoprism.cli import app

    out = tmp_path / "motifs"
    args = ["discover", str(animal_store["store"]), "--out", str(out), "--motifs", "2", "--no-movies"]
    assert CliRunner().invoke(app, args).exit_code == 0
    labels = tmp_path / "labels.csv"
    project = Project(animal_store["store"], labels, motifs_dir=out)
    url, server = serve(project, TOKEN)
    try:
        browser.get(f"{url}/?token={TOKEN}")
        wait_for(browser, "return document.getElementById('player').dataset.ready === '1'")
        browser.execute_script("nameMotif(1, 'groomish')")
        wait_for(browser, SAVED)
        saved = pd.read_csv(labels)
        expected = sorted(
            (video, b[3], b[1], b[2])
            for video, bouts in project.motifs["bouts"].items()
            for b in bouts
            if b[0] == 1
        )
        assert sorted(zip(saved.video, saved.animal, saved.start_frame, saved.end_frame)) == expected
        assert set(saved.animal) == {"female", "male"}
    finally:
        server.should_exit = True
