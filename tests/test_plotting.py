"""CostCurveDisplay and plot_image_grid, rendered with the Agg backend."""

import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from sklearn_catneuron import (
    CostCurveDisplay,
    ImageFlattener,
    SigmoidNeuronClassifier,
    plot_image_grid,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def pyplot():
    """matplotlib.pyplot on the Agg backend; closes every figure afterwards."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


@pytest.fixture
def small_images(rng):
    images = rng.integers(0, 256, size=(12, 8, 8, 3), dtype=np.uint8)
    target = (images.mean(axis=(1, 2, 3)) > 127).astype(int)
    target[:2] = [0, 1]
    return images, target


def assert_png(path, size):
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        assert image.size == size


# -- CostCurveDisplay --------------------------------------------------------


def test_from_estimator_on_a_pipeline(pyplot, small_images):
    images, target = small_images
    model = make_pipeline(
        ImageFlattener(), SigmoidNeuronClassifier(learning_rate=0.1, max_iter=30)
    ).fit(images, target)
    display = CostCurveDisplay.from_estimator(model)

    assert isinstance(display, CostCurveDisplay)
    assert_array_equal(display.loss_curve, model[-1].loss_curve_)
    x, y = display.line_.get_data()
    assert_array_equal(x, np.arange(30))
    assert_array_equal(y, model[-1].loss_curve_)
    assert display.ax_.get_xlabel() == "gradient-descent step"
    assert display.ax_.get_ylabel() == "cost (mean cross-entropy)"
    assert display.figure_ is display.ax_.figure
    assert display.name == "SigmoidNeuronClassifier"
    legend = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert legend == ["SigmoidNeuronClassifier"]


def test_displays_share_one_axes(pyplot, small_images):
    images, target = small_images
    X = ImageFlattener().fit_transform(images)
    fig, ax = pyplot.subplots()
    displays = [
        CostCurveDisplay.from_estimator(
            SigmoidNeuronClassifier(learning_rate=rate, max_iter=20).fit(X, target),
            ax=ax,
            name=f"rate {rate}",
            linestyle="--",
        )
        for rate in (0.1, 0.01)
    ]
    assert all(display.ax_ is ax and display.figure_ is fig for display in displays)
    assert ax.get_lines() == [display.line_ for display in displays]
    assert displays[0].line_.get_linestyle() == "--"
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["rate 0.1", "rate 0.01"]
    # A faster rate lowers the cost faster.
    assert displays[0].line_.get_ydata()[-1] < displays[1].line_.get_ydata()[-1]


def test_plot_from_data_and_name_override(pyplot):
    display = CostCurveDisplay(loss_curve=[0.7, 0.5, 0.4], name="stored")
    display.plot(name="given", color="red")
    assert display.line_.get_label() == "given"
    assert display.line_.get_color() == "red"
    unnamed = CostCurveDisplay(loss_curve=[0.7, 0.5]).plot()
    assert unnamed.ax_.get_legend() is None


def test_cost_curve_renders_to_png(
    pyplot, tmp_path, reference_pipeline, reference_costs
):
    model = reference_pipeline
    display = CostCurveDisplay.from_estimator(model, name="learning rate 0.005")
    assert_array_equal(np.round(display.line_.get_ydata()[::100], 6), reference_costs)
    display.figure_.set_size_inches(6, 4)
    display.figure_.savefig(tmp_path / "cost.png", dpi=50)
    assert_png(tmp_path / "cost.png", (300, 200))


def test_from_estimator_refuses_unfitted_and_curve_less_estimators(pyplot):
    with pytest.raises(NotFittedError):
        CostCurveDisplay.from_estimator(SigmoidNeuronClassifier())
    with pytest.raises(NotFittedError):
        CostCurveDisplay.from_estimator(
            make_pipeline(ImageFlattener(), SigmoidNeuronClassifier())
        )
    fitted = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    with pytest.raises(ValueError, match="LogisticRegression has no loss_curve_"):
        CostCurveDisplay.from_estimator(fitted)


@pytest.mark.parametrize("loss_curve", [[], [[0.7, 0.6]]])
def test_plot_refuses_a_malformed_curve(pyplot, loss_curve):
    with pytest.raises(ValueError, match="non-empty 1-D array of costs"):
        CostCurveDisplay(loss_curve=loss_curve).plot()


# -- plot_image_grid ---------------------------------------------------------


def test_image_grid_titles_and_layout(pyplot, small_images):
    images, _ = small_images
    images = images[:7]
    y_true = np.array([0, 1, 1, 0, 1, 0, 0])
    y_pred = np.array([0, 1, 0, 0, 1, 1, 0])
    fig = plot_image_grid(
        images, y_true, y_pred, target_names=["non-cat", "cat"], ncols=3
    )
    assert len(fig.axes) == 9  # 3 x 3, two cells empty
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == [
        "pred: non-cat\ntrue: non-cat",
        "pred: cat\ntrue: cat",
        "pred: non-cat\ntrue: cat",
    ]
    assert titles[7:] == ["", ""]
    red = [ax.title.get_color() == "tab:red" for ax in fig.axes[:7]]
    assert red == [False, False, True, False, False, True, False]
    assert [len(ax.images) for ax in fig.axes] == [1] * 7 + [0, 0]
    assert_array_equal(fig.axes[4].images[0].get_array(), images[4])
    assert not any(ax.axison for ax in fig.axes)


def test_image_grid_labels_without_names_and_single_label_sets(pyplot, small_images):
    images, _ = small_images
    fig = plot_image_grid(images[:2], y_true=["dog", "cat"], ncols=5)
    assert [ax.get_title() for ax in fig.axes] == ["true: dog", "true: cat"]
    fig = plot_image_grid(images[:2], y_pred=[1, 0], target_names=["no", "yes"])
    assert [ax.get_title() for ax in fig.axes] == ["pred: yes", "pred: no"]
    fig = plot_image_grid(images[:2])
    assert [ax.get_title() for ax in fig.axes] == ["", ""]


def test_image_grid_accepts_scaled_and_grayscale_images(pyplot, small_images):
    images, _ = small_images
    images = images[:3]
    flattener = ImageFlattener().fit(images)
    restored = flattener.inverse_transform(flattener.transform(images))  # 0..255
    for variant in (images, images / 255.0, restored):
        fig = plot_image_grid(variant)
        assert_array_equal(fig.axes[1].images[0].get_array(), images[1])
    gray = images[..., 0]
    for variant in (gray, gray[..., None]):
        fig = plot_image_grid(variant)
        shown = fig.axes[0].images[0]
        assert_array_equal(shown.get_array(), gray[0])
        assert shown.get_cmap().name == "gray"


def test_image_grid_renders_misclassified_test_pictures(
    pyplot, tmp_path, catvnoncat, reference_pipeline
):
    _, _, X_test, y_test = catvnoncat
    y_pred = reference_pipeline.predict(X_test)
    wrong = y_pred != y_test
    fig = plot_image_grid(
        X_test[wrong],
        y_test[wrong],
        y_pred[wrong],
        target_names=["non-cat", "cat"],
        ncols=5,
    )
    assert len(fig.axes) == 15  # 50 - 35 misclassified, 3 rows of 5
    assert all(ax.title.get_color() == "tab:red" for ax in fig.axes)
    fig.set_size_inches(5, 3)
    fig.savefig(tmp_path / "misclassified.png", dpi=40)
    assert_png(tmp_path / "misclassified.png", (200, 120))


@pytest.mark.parametrize(
    "images, kwargs, match",
    [
        (np.zeros((3, 12)), {}, "ImageFlattener.inverse_transform"),
        (np.zeros((0, 8, 8, 3)), {}, "non-empty array"),
        (np.zeros((2, 8, 8, 2)), {}, r"got shape \(2, 8, 8, 2\)"),
        (np.full((2, 8, 8), np.nan), {}, "NaN or inf"),
        (np.full((2, 8, 8), 300.0), {}, r"\[0, 1\] or \[0, 255\]"),
        (np.zeros((2, 8, 8)), {"y_true": [0, 1, 1]}, "one label per image"),
        (
            np.zeros((2, 8, 8)),
            {"y_pred": ["a", "b"], "target_names": ["x", "y"]},
            "integer class indices in",
        ),
        (
            np.zeros((2, 8, 8)),
            {"y_pred": [0, 2], "target_names": ["x", "y"]},
            r"got the values \[0, 2\]",
        ),
        (np.zeros((2, 8, 8)), {"ncols": 0}, "ncols must be a positive integer"),
    ],
)
def test_image_grid_refuses_bad_input(pyplot, images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_image_grid(images, **kwargs)


# -- without matplotlib ------------------------------------------------------


def test_without_matplotlib_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    clf = SigmoidNeuronClassifier(max_iter=3).fit([[0.0], [1.0]], [0, 1])
    match = r"needs matplotlib, .*pip install 'sklearn-catneuron\[plots\]'"
    with pytest.raises(ImportError, match="CostCurveDisplay.from_estimator " + match):
        CostCurveDisplay.from_estimator(clf)
    with pytest.raises(ImportError, match="CostCurveDisplay.plot " + match):
        CostCurveDisplay(loss_curve=[0.7]).plot()
    with pytest.raises(ImportError, match="plot_image_grid " + match):
        plot_image_grid(np.zeros((1, 4, 4)))


# -- CostCurveDisplay with a validation curve ---------------------------------


@pytest.fixture
def watched(rng):
    """A neuron fitted with a validation set that it ends up overfitting."""
    X = rng.normal(size=(42, 50))
    y = (X[:, 0] + 0.7 * rng.normal(size=(42, 2))[:, 0] > 0).astype(int)
    model = SigmoidNeuronClassifier(learning_rate=0.1, max_iter=60)
    return model.fit(X[:30], y[:30], X_val=X[30:], y_val=y[30:])


def test_from_estimator_draws_the_validation_curve_and_best_step(pyplot, watched):
    display = CostCurveDisplay.from_estimator(watched)
    assert_array_equal(display.line_.get_ydata(), watched.loss_curve_)
    x, y = display.validation_line_.get_data()
    assert_array_equal(x, np.arange(60))
    assert_array_equal(y, watched.validation_loss_curve_)
    assert display.validation_line_.get_linestyle() == "--"
    assert display.validation_line_.get_color() == display.line_.get_color()
    best = watched.best_iteration_
    assert best == 7
    assert display.best_marker_.get_xydata().tolist() == [
        [best, watched.validation_loss_curve_[best]]
    ]
    legend = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert legend == ["training", "validation", f"lowest validation cost (step {best})"]


def test_named_validation_display_and_best_at_the_last_iterate(pyplot):
    display = CostCurveDisplay(
        loss_curve=[0.69, 0.5, 0.4], validation_loss_curve=[0.69, 0.6, 0.55],
        best_iteration=3, name="rate 0.1",
    ).plot()  # fmt: skip
    assert display.best_marker_ is None  # step 3 is after the curve's last point
    legend = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert legend == ["rate 0.1, training", "rate 0.1, validation"]


def test_without_validation_the_display_is_unchanged(pyplot):
    display = CostCurveDisplay(loss_curve=[0.69, 0.5]).plot()
    assert display.validation_line_ is None and display.best_marker_ is None
    assert display.ax_.get_legend() is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"validation_loss_curve": []}, "validation_loss_curve must be a non-empty"),
        ({"validation_loss_curve": [[0.6]]}, r"got shape \(1, 1\)"),
        (
            {"validation_loss_curve": [0.7, 0.6], "best_iteration": 3},
            "best_iteration must be a step number from 0 to 2, got 3",
        ),
        (
            {"validation_loss_curve": [0.7, 0.6], "best_iteration": 1.0},
            "got 1.0",
        ),
    ],
)
def test_bad_validation_curve(pyplot, kwargs, match):
    with pytest.raises(ValueError, match=match):
        CostCurveDisplay(loss_curve=[0.69, 0.5], **kwargs).plot()


@pytest.mark.slow
def test_the_cat_overfitting_figure(pyplot, catvnoncat, tmp_path):
    """The tutorial's figure: the test cost turns back up after step 150."""
    X_train, y_train, X_test, y_test = catvnoncat
    flatten = ImageFlattener()
    model = SigmoidNeuronClassifier().fit(
        flatten.fit_transform(X_train), y_train,
        X_val=flatten.transform(X_test), y_val=y_test,
    )  # fmt: skip
    display = CostCurveDisplay.from_estimator(model)
    assert display.best_marker_.get_xdata().tolist() == [150]
    validation = display.validation_line_.get_ydata()
    assert validation[150] < validation[1999] and validation[1999] > 0.75
    display.figure_.savefig(tmp_path / "cost.png")
    assert_png(tmp_path / "cost.png", (640, 480))
