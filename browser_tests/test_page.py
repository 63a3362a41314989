"""`make test-browser`: the server's page in a real headless Chromium (Debian's chromium and chromium-driver).

Not part of `make test`: it needs a browser. It serves a small run (random weights: what is checked is the
page, not the translation), uploads an image, then draws a sketch, and waits each time for the translation to
appear beside the input. With CYCLEGAN_TF_SCREENSHOT=FILE it saves a screenshot there.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    from cyclegan_tf.config import TrainConfig
    from cyclegan_tf.deploy.server import make_app, start_in_thread
    from cyclegan_tf.inference.translator import load_generators, translators_of
    from cyclegan_tf.models.builders import build_generator
    from cyclegan_tf.runs.checkpoints import open_checkpoint, save_networks

    config = TrainConfig(name="page", checkpoints_dir=str(tmp_path_factory.mktemp("runs")), netG="resnet_6blocks",
                         ngf=8)
    save_networks(config.run_dir, {"G_AB": build_generator(config, "AtoB"), "G_BA": build_generator(config, "BtoA")},
                  config)
    with open_checkpoint(config.run_dir) as opened:
        translators = translators_of(load_generators(opened), config.netG)
    running = start_in_thread(make_app(translators, title="cyclegan-tf: page test"))
    yield running.url + "/"
    running.stop()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,800"):
        options.add_argument(flag)
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary:
        options.binary_location = binary
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def wait_for_translation(driver) -> int:
    """Wait until the translated image has loaded; its natural width."""
    WebDriverWait(driver, 60).until(lambda d: d.execute_script(
        "const o = document.getElementById('output'); return o.src && o.complete && o.naturalWidth > 0;"))
    assert "error" not in driver.find_element(By.ID, "status").get_attribute("class")
    return driver.execute_script("return document.getElementById('output').naturalWidth;")


def test_upload_and_sketch_are_translated(page_url, browser, tmp_path):
    image = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (72, 100, 3), dtype=np.uint8)).save(image)
    browser.get(page_url)
    assert browser.title == "cyclegan-tf: page test"
    browser.find_element(By.ID, "file").send_keys(str(image))
    assert wait_for_translation(browser) == 100  # the input's width
    assert "done in" in browser.find_element(By.ID, "status").text

    browser.execute_script("document.getElementById('output').removeAttribute('src');")
    browser.find_element(By.ID, "mode-draw").click()
    canvas = browser.find_element(By.ID, "canvas")
    ActionChains(browser).move_to_element_with_offset(canvas, -60, -60).click_and_hold().move_by_offset(90, 40) \
        .move_by_offset(20, 70).release().perform()
    browser.find_element(By.ID, "send").click()
    assert wait_for_translation(browser) == 256  # the canvas
    if os.environ.get("CYCLEGAN_TF_SCREENSHOT"):
        browser.save_screenshot(os.environ["CYCLEGAN_TF_SCREENSHOT"])
