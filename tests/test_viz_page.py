"""The interactive viewer (`graphc viz -o model.html`) in a real headless Chromium.

Oracles: layer names, lines and shapes are read from the spec text and from `graphc check`'s
printed output (another code path), not from the page's own data. Without Chromium or
Selenium the browser tests skip with the one-line reason from viz_browser.missing().
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT, SPECS
from viz_browser import chrome, click_and_wait, console_errors, missing, open_page, wait_for

SHOTS = os.environ.get("GRAPHC_SCREENSHOTS")  # keep screenshots here to look at them


def graphc(*args, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-m", "graphc", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=600)


def check_rows(spec: str) -> dict[str, str]:
    """layer name -> output shape as `graphc check` prints it."""
    out = graphc("check", spec).stdout
    rows = {}
    for line in out.splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) == 3 and not line.startswith("input "):
            rows[parts[0]] = parts[2]
    return rows


def line_of(spec: str, needle: str) -> int:
    with open(spec, encoding="utf-8") as f:
        return next(i for i, line in enumerate(f, 1) if needle in line)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pages")
    out = {}
    for name in ("mnist_cnn", "transformer_encoder"):
        path = str(tmp / f"{name}.html")
        r = graphc("viz", os.path.join(SPECS, f"{name}.yaml"), "-o", path)
        assert r.returncode == 0, r.stderr
        out[name] = path
    return out


def test_page_is_self_contained(pages):
    text = open(pages["mnist_cnn"], encoding="utf-8").read()
    assert "<script src" not in text and "<link" not in text  # nothing fetched: scripts and styles inline
    assert not re.search(r"""(src|href)=["']https?://""", text)
    data = json.loads(re.search(r'<script type="application/json" id="graphc-data">(.*?)</script>', text, re.DOTALL)
                      .group(1).replace("<\\/", "</"))
    names = {it[2] for it in data["views"]["layer"]["items"]}
    assert set(check_rows(os.path.join(SPECS, "mnist_cnn.yaml"))) <= names
    for hook in ('data-role="search"', 'data-role="details"', 'data-role="breadcrumbs"'):
        assert hook in text


def test_viz_html_errors(tmp_path):
    r = graphc("viz", os.path.join(SPECS, "mnist_cnn.yaml"), "-o", str(tmp_path / "m.svg"), "--run", str(tmp_path))
    assert r.returncode == 2 and "--run needs an .html output" in r.stderr
    r = graphc("viz", os.path.join(SPECS, "mnist_cnn.yaml"), "-o", str(tmp_path / "m.html"), "--run",
               str(tmp_path / "nope"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no run folder" in r.stderr


def test_onnx_page_has_node_domain_opset(tmp_path):
    onnx_path = str(tmp_path / "m.onnx")
    assert graphc("compile", os.path.join(SPECS, "mlp_small.yaml"), "-o", onnx_path).returncode == 0
    page = str(tmp_path / "m.html")
    r = graphc("viz", onnx_path, "-o", page)
    assert r.returncode == 0, r.stderr
    import onnx

    model = onnx.load(onnx_path)
    text = open(page, encoding="utf-8").read()
    first = model.graph.node[0]
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    assert f'"name":"{first.name}","op_type":"{first.op_type}","domain":"ai.onnx","opset":{opset}' in text


browser = pytest.mark.skipif(missing() is not None, reason=f"browser tests need Chromium: {missing()}")


@pytest.fixture(scope="module")
def driver():
    with chrome() as d:
        yield d


def shot(driver, name: str, tmp_path) -> str:
    path = os.path.join(SHOTS or str(tmp_path), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    driver.save_screenshot(path)
    assert os.path.getsize(path) > 1000
    return path


@browser
def test_expand_group_search_details(driver, pages, tmp_path):
    from selenium.webdriver.common.by import By

    spec = os.path.join(SPECS, "transformer_encoder.yaml")
    open_page(driver, pages["transformer_encoder"])
    nodes = lambda: driver.find_elements(By.CSS_SELECTOR, "[data-node]")
    before = len(nodes())
    group = driver.find_element(By.CSS_SELECTOR, '[data-group][data-expanded="false"]')
    name = group.get_attribute("data-group")
    assert name == "encoder_layer_1"  # the repeated block of the spec
    click_and_wait(driver, group)
    assert group.get_attribute("data-expanded") == "true"  # the same element flipped
    assert driver.find_element(By.CSS_SELECTOR, f'[data-group="{name}"]').get_attribute("data-expanded") == "true"
    assert len(nodes()) > before

    # search: every copy's ff_out, and nothing else, is marked (the folded copies are opened)
    box = driver.find_element(By.CSS_SELECTOR, "input[data-role=search]")
    box.send_keys("ff_out")
    wait_for(driver, "document.querySelectorAll('[data-match=\"true\"]').length === 6")
    matched = {e.get_attribute("data-node") for e in driver.find_elements(By.CSS_SELECTOR, '[data-match="true"]')}
    expected = {n for n in check_rows(spec) if n.endswith(".ff_out")}
    assert matched == expected and len(expected) == 6
    shot(driver, "transformer_search.png", tmp_path)

    # details of a layer: output shape as `graphc check` prints it, spec file:line
    layer = "encoder_layer_1.2.ff_out"
    driver.find_element(By.CSS_SELECTOR, f'[data-node="{layer}"]').click()
    panel = driver.find_element(By.CSS_SELECTOR, "[data-role=details]")
    wait_for(driver, f"document.querySelector('[data-role=details]').textContent.includes('{layer}')")
    text = panel.text
    assert check_rows(spec)[layer] == "[N, T, 128]"
    assert "[N, T, 128]" in text
    assert f"transformer_encoder.yaml:{line_of(spec, 'name: ff_out')}" in text
    assert "ff_out.weight" in text and "65,536" in text  # parameters: 128 x 512 weights
    crumbs = driver.find_element(By.CSS_SELECTOR, "[data-role=breadcrumbs]").text
    assert "encoder_layer_1.2" in crumbs
    assert console_errors(driver) == []
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0


@browser
def test_layer_details_path_views(driver, pages, tmp_path):
    from selenium.webdriver.common.by import By

    spec = os.path.join(SPECS, "mnist_cnn.yaml")
    open_page(driver, pages["mnist_cnn"])
    drawn = {e.get_attribute("data-node") for e in driver.find_elements(By.CSS_SELECTOR, "[data-node]")}
    assert set(check_rows(spec)) <= drawn  # no blocks: every layer is drawn at once
    driver.find_element(By.CSS_SELECTOR, '[data-node="logits"]').click()
    wait_for(driver, "document.querySelector('[data-role=details]').textContent.includes('logits')")
    text = driver.find_element(By.CSS_SELECTOR, "[data-role=details]").text
    assert check_rows(spec)["logits"] == "[N, 10]" and "[N, 10]" in text
    assert f"mnist_cnn.yaml:{line_of(spec, 'name: logits')}" in text
    assert "1,290" in text and "2,570" in text  # 128 x 10 + 10 parameters; FLOPs 2 x 1,280 + 10
    # the path from the input to the chosen layer is highlighted
    on_path = {e.get_attribute("data-node") for e in driver.find_elements(By.CSS_SELECTOR, '[data-path="true"][data-node]')}
    assert {"image", "conv2d_1", "flatten_1", "logits"} <= on_path and "output:logits" not in on_path
    shot(driver, "mnist_details.png", tmp_path)

    # after passes: both dropouts are removed at inference (the spec has two dropout layers)
    n_dropout = open(spec, encoding="utf-8").read().count("- dropout:")
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "[data-role=toggle-passes]"))
    removed = {e.get_attribute("data-node") for e in driver.find_elements(By.CSS_SELECTOR, '[data-removed="true"]')}
    assert removed == {"dropout_1", "dropout_2"} and n_dropout == 2
    # gradient view: a folded backward group; opening it draws backward ops
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "[data-role=toggle-grad]"))
    group = driver.find_element(By.CSS_SELECTOR, '[data-group="backward"]')
    assert group.get_attribute("data-expanded") == "false"
    click_and_wait(driver, group)
    assert driver.find_elements(By.CSS_SELECTOR, '[data-backward="true"][data-node]')
    # a layer opens its ops (double click); keyboard zoom and fit work
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "[data-role=toggle-grad]"))
    from selenium.webdriver.common.action_chains import ActionChains

    before = driver.execute_script("return document.querySelectorAll('[data-node]').length")
    ActionChains(driver).double_click(driver.find_element(By.CSS_SELECTOR, '[data-node="conv2d_1"]')).perform()
    wait_for(driver, "document.querySelector('[data-group=\"conv2d_1\"]')")
    assert driver.execute_script("return document.querySelectorAll('[data-node]').length") > before
    width = driver.execute_script("return document.querySelector('#canvas svg').getBoundingClientRect().width")
    driver.find_element(By.CSS_SELECTOR, "body").send_keys("+")
    assert driver.execute_script("return document.querySelector('#canvas svg').getBoundingClientRect().width") > width
    assert console_errors(driver) == []


@browser
def test_passes_view_marks_fused_and_removed(driver, tmp_path):
    """resnet_block: each conv2d followed by a batchnorm (as the spec writes them) is folded at
    inference: the conv is marked fused (naming its batchnorm), the batchnorm removed."""
    from selenium.webdriver.common.by import By

    spec = os.path.join(SPECS, "resnet_block.yaml")
    lines = [ln.strip() for ln in open(spec, encoding="utf-8") if ln.strip().startswith("- ")]
    pairs = [(re.search(r"name: (\w+)", a).group(1), re.search(r"name: (\w+)", b).group(1))
             for a, b in zip(lines, lines[1:]) if a.startswith("- conv2d:") and b.startswith("- batchnorm:")]
    assert pairs == [("conv1", "bn1"), ("conv2", "bn2")]
    page = str(tmp_path / "resnet.html")
    assert graphc("viz", spec, "-o", page).returncode == 0
    open_page(driver, page)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "[data-role=toggle-passes]"))
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, '[data-group="res"]'))  # opens res.0 too
    fused = {e.get_attribute("data-node") for e in driver.find_elements(By.CSS_SELECTOR, '[data-fused="true"][data-node]')}
    removed = {e.get_attribute("data-node") for e in driver.find_elements(By.CSS_SELECTOR, '[data-removed="true"]')}
    assert fused == {f"res.0.{conv}" for conv, _ in pairs}
    assert {f"res.0.{bn}" for _, bn in pairs} <= removed
    driver.find_element(By.CSS_SELECTOR, '[data-node="res.0.conv1"]').click()
    assert "fused with: res.0.bn1" in driver.find_element(By.CSS_SELECTOR, "[data-role=details]").text
    shot(driver, "resnet_passes.png", tmp_path)
    assert console_errors(driver) == []


@browser
def test_run_pictures_beside_the_model(driver, tmp_path):
    from selenium.webdriver.common.by import By

    from graphc.training.plots import plot_curves

    run = tmp_path / "run"
    run.mkdir()
    history = [{"epoch": e, "loss": 1 / e, "val_loss": 1.1 / e, "seconds": 0.1} for e in (1, 2, 3)]
    (run / "history.json").write_text(json.dumps(history))
    plot_curves(history, str(run / "curves.png"))
    page = str(tmp_path / "m.html")
    r = graphc("viz", os.path.join(SPECS, "mlp_small.yaml"), "-o", page, "--run", str(run))
    assert r.returncode == 0, r.stderr
    open_page(driver, page)
    img = driver.find_element(By.CSS_SELECTOR, '[data-role=training] img[data-image="curves.png"]')
    assert img.is_displayed()
    assert driver.execute_script("return arguments[0].naturalWidth", img) == 400  # one panel: loss
    assert "0.3333" in driver.find_element(By.CSS_SELECTOR, "[data-role=training]").text  # last epoch: loss 1/3
    assert console_errors(driver) == []


@browser
@pytest.mark.slow
def test_ten_thousand_layers(driver, tmp_path):
    """The 10,000-layer chain: the page opens with folded chunks; a click draws nodes."""
    from selenium.webdriver.common.by import By

    sys.path.insert(0, os.path.join(ROOT, "bench"))
    from viz import spec_text

    spec = tmp_path / "chain.yaml"
    spec.write_text(spec_text(10000, "irregular"))
    page = str(tmp_path / "chain.html")
    r = graphc("viz", str(spec), "-o", page)
    assert r.returncode == 0, r.stderr
    seconds = open_page(driver, page)
    groups = driver.find_elements(By.CSS_SELECTOR, '[data-group][data-expanded="false"]')
    assert groups and len(driver.find_elements(By.CSS_SELECTOR, "[data-node]")) < 50
    before = len(driver.find_elements(By.CSS_SELECTOR, "[data-node]"))
    click = click_and_wait(driver, groups[0])
    assert len(driver.find_elements(By.CSS_SELECTOR, "[data-node]")) > before
    print(f"10,000 layers: page ready in {seconds:.2f} s, click answered in {click:.2f} s")
    shot(driver, "chain10k.png", tmp_path)
    assert console_errors(driver) == []


def test_python_api_writes_the_page(tmp_path):
    import graphc as gc

    model = gc.load(os.path.join(SPECS, "mlp_small.yaml"))
    path = model.to_html(str(tmp_path / "m.html"))
    text = open(path, encoding="utf-8").read()
    rows = check_rows(os.path.join(SPECS, "mlp_small.yaml"))
    assert all(f'"{name}"' in text for name in rows) and 'id="graphc-data"' in text
