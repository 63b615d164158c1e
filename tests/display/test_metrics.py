import math
import struct
import sys

import numpy as np
import pytest
import torch

from agentnet.display import Curve, Metrics, smooth


def png_size(path):
    """(width, height) in pixels from a PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# --- logging ----------------------------------------------------------------------------
def test_log_and_get():
    metrics = Metrics()
    metrics.log(0, loss=1.0, ret=10.0)
    metrics.log(5, loss=torch.tensor(0.5), ret=np.float32(20.0))
    metrics.log(10, {"loss/td": 0.25})
    assert len(metrics) == 3
    assert list(metrics) == ["loss", "ret", "loss/td"]
    steps, values = metrics["loss"]
    assert steps.dtype == np.int64 and steps.tolist() == [0, 5]
    assert values.dtype == np.float64 and values.tolist() == [1.0, 0.5]
    assert metrics.last() == {"loss": 0.5, "ret": 20.0, "loss/td": 0.25}
    assert len(metrics["loss"]) == 2


def test_curve_append_forms_and_original_item_syntax():
    metrics = Metrics()
    metrics["return"].append((0, 1.0))
    metrics["return"].append(1, 2.0)
    metrics["return"][2.5] = 3.0          # the original AgentNet's mm["y"][step] = value
    metrics["return"][1] = 4.0            # replaces the value logged at step 1
    assert metrics["return"].points() == [(0, 1.0), (1, 4.0), (2.5, 3.0)]
    assert metrics["return"].steps.dtype == np.float64
    assert metrics["return"].last == 3.0


def test_missing_names_are_created_on_access_but_not_by_membership_tests():
    metrics = Metrics()
    assert "loss" not in metrics and metrics.get("loss") is None
    assert isinstance(metrics["loss"], Curve) and len(metrics["loss"]) == 0
    assert "loss" in metrics
    del metrics["loss"]
    assert len(metrics) == 0


def test_constructor_and_setitem_take_points():
    metrics = Metrics({"a": [(0, 1.0), (1, 2.0)]})
    metrics["b"] = metrics["a"]
    assert metrics["b"].points() == [(0, 1.0), (1, 2.0)]
    assert metrics["b"].name == "b"


def test_bad_values_raise_with_the_metric_name():
    metrics = Metrics()
    with pytest.raises(ValueError, match="'loss' must be a single number"):
        metrics.log(0, loss=torch.zeros(3))
    with pytest.raises(ValueError, match="step must be an int or a float"):
        metrics.log("first", loss=1.0)
    with pytest.raises(ValueError, match=r"append\(\(step, value\)\)"):
        metrics["loss"].append(3)


def test_a_bad_value_logs_nothing():
    metrics = Metrics()
    metrics.log(0, loss=1.0, ret=2.0)
    with pytest.raises(ValueError, match="'ret'"):
        metrics.log(1, loss=0.5, ret=None)
    assert len(metrics["loss"]) == len(metrics["ret"]) == 1


def test_repr_lists_curves():
    metrics = Metrics()
    metrics.log(0, loss=0.5)
    assert repr(metrics) == "Metrics(loss: 1 points, last 0.5)"


# --- CSV --------------------------------------------------------------------------------
def test_csv_round_trip_is_exact(tmp_path):
    metrics = Metrics()
    for step in range(5):
        metrics.log(step, loss=1 / 3 ** step, ret=float(step) * 0.1)
    metrics["odd, name"][0.5] = math.inf
    metrics["nan"][7] = math.nan
    path = tmp_path / "sub" / "metrics.csv"
    metrics.to_csv(path)
    assert path.read_text().splitlines()[0] == "name,step,value"
    loaded = Metrics.from_csv(path)
    assert list(loaded) == list(metrics)
    for name in ["loss", "ret", "odd, name"]:
        assert loaded[name].points() == metrics[name].points()
        assert loaded[name].steps.dtype == metrics[name].steps.dtype
    assert math.isnan(loaded["nan"].last) and loaded["nan"].steps.tolist() == [7]


def test_from_csv_rejects_other_files(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("step,loss\n0,1.0\n")
    with pytest.raises(ValueError, match="expected the header name,step,value"):
        Metrics.from_csv(path)


# --- smoothing --------------------------------------------------------------------------
def test_ema_is_debiased_by_hand():
    # a = 0.5: s_t = sum_k a^k x_{t-k} / sum_k a^k
    # t=0: 2/1 = 2;  t=1: (4 + 0.5*2)/1.5 = 10/3;  t=2: (0 + 0.5*4 + 0.25*2)/1.75 = 10/7
    np.testing.assert_allclose(smooth([2.0, 4.0, 0.0], 0.5), [2.0, 10 / 3, 10 / 7])


def test_window_mean_by_hand():
    np.testing.assert_allclose(smooth([1.0, 3.0, 5.0, 9.0], 3), [1.0, 2.0, 3.0, 17 / 3])
    np.testing.assert_allclose(smooth([1.0, 3.0], 1), [1.0, 3.0])


def test_no_smoothing_and_constant_curves():
    assert smooth([1.0, 2.0], None).tolist() == [1.0, 2.0]
    assert smooth([1.0, 2.0], 0).tolist() == [1.0, 2.0]
    np.testing.assert_allclose(smooth([3.0] * 50, 0.99), [3.0] * 50)


def test_ema_matches_a_loop_over_weights():
    x = np.random.default_rng(0).normal(size=30)
    a = 0.8
    expected = [sum(a ** k * x[t - k] for k in range(t + 1)) / sum(a ** k for k in range(t + 1))
                for t in range(len(x))]
    np.testing.assert_allclose(smooth(x, a), expected)


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, -2, True])
def test_bad_smoothing_raises(bad):
    with pytest.raises(ValueError, match="smoothing"):
        smooth([1.0], bad)


def test_curve_smoothed_sorts_by_step():
    curve = Curve("x", [(2, 4.0), (0, 2.0), (3, 0.0)])
    np.testing.assert_allclose(curve.smoothed(0.5), [2.0, 10 / 3, 10 / 7])


# --- plotting ---------------------------------------------------------------------------
@pytest.fixture
def metrics():
    m = Metrics()
    rng = np.random.default_rng(0)
    for step in range(0, 200, 10):
        m.log(step, loss=1 / (1 + step) + rng.normal() * 0.01, ret=step + rng.normal())
    return m


def test_plot_writes_a_png_of_the_requested_size(metrics, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "plots" / "metrics.png"
    figure = metrics.plot(path, figsize=(4, 3), dpi=50)
    assert png_size(path) == (200, 150)
    assert path.stat().st_size > 1000
    assert len([ax for ax in figure.axes if ax.axison]) == 2


def test_png_is_not_blank(metrics, tmp_path):
    image = pytest.importorskip("matplotlib.image")
    path = tmp_path / "metrics.png"
    metrics.plot(path, names="ret", figsize=(3, 2), dpi=40)
    pixels = image.imread(path)
    assert pixels.shape[:2] == (80, 120)
    assert pixels[..., :3].std() > 0.05  # lines and text, not one flat colour


def test_plot_one_subplot_per_selected_curve_with_raw_and_smoothed_lines(metrics):
    pytest.importorskip("matplotlib")
    figure = metrics.plot(names=["loss"], smoothing=3)
    (ax,) = figure.axes
    raw, smoothed = ax.get_lines()
    assert raw.get_alpha() < 1 and smoothed.get_alpha() in (None, 1)  # raw values faint
    np.testing.assert_allclose(smoothed.get_ydata(), smooth(metrics["loss"].values, 3))
    assert ax.get_title().startswith("loss")


def test_plot_leaves_out_values_that_are_not_finite():
    pytest.importorskip("matplotlib")
    metrics = Metrics()
    for step, loss in enumerate([float("nan"), float("nan"), 4.0, 2.0, float("inf"), 1.0]):
        metrics.log(step, loss=loss)   # e.g. nan before learning starts
    raw, smoothed = metrics.plot(smoothing=0.5).axes[0].get_lines()
    assert raw.get_xdata().tolist() == [2, 3, 5]
    np.testing.assert_allclose(smoothed.get_ydata(), smooth([4.0, 2.0, 1.0], 0.5))


def test_plot_onto_given_axes(metrics):
    plt = pytest.importorskip("matplotlib.pyplot")
    figure, (ax_loss, ax_ret) = plt.subplots(1, 2)
    try:
        assert metrics.plot([ax_loss, ax_ret]) is figure
        assert len(ax_loss.get_lines()) == 2 and len(ax_ret.get_lines()) == 2
        np.testing.assert_allclose(ax_ret.get_lines()[0].get_ydata(), metrics["ret"].values)

        figure2, ax = plt.subplots()
        assert metrics.plot(ax, smoothing=None) is figure2
        assert [line.get_label() for line in ax.get_lines()] == ["loss", "ret"]
        assert ax.get_legend() is not None
    finally:
        plt.close("all")


def test_plot_errors(metrics):
    plt = pytest.importorskip("matplotlib.pyplot")
    with pytest.raises(KeyError, match="did you mean 'loss'"):
        metrics.plot(names=["los"])
    figure, axes = plt.subplots(1, 3)
    try:
        with pytest.raises(ValueError, match="3 axes for 2 curves"):
            metrics.plot(axes)
    finally:
        plt.close(figure)
    with pytest.raises(ValueError, match="smoothing"):
        metrics.plot(smoothing=2.0)


def test_empty_metrics_still_plot(tmp_path):
    pytest.importorskip("matplotlib")
    Metrics().plot(tmp_path / "empty.png", figsize=(2, 2), dpi=30)
    assert png_size(tmp_path / "empty.png") == (60, 60)


def test_metrics_work_without_matplotlib(tmp_path, monkeypatch):
    for module in ["matplotlib", "matplotlib.axes"]:  # None makes their import fail
        monkeypatch.setitem(sys.modules, module, None)
    metrics = Metrics()
    metrics.log(0, loss=1.0)
    metrics.to_csv(tmp_path / "m.csv")
    assert Metrics.from_csv(tmp_path / "m.csv") == metrics
    with pytest.raises(ImportError, match="pip install matplotlib"):
        metrics.plot()
