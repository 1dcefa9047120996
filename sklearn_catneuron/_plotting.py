"""Plots: the cost curve of gradient descent and grids of labelled images.

matplotlib is an optional dependency (``pip install "sklearn-catneuron[plots]"``);
it is imported only when a plot is drawn. scikit-learn is imported only by
``from_estimator``: ``catneuron train`` draws its plot in a second process that
needs matplotlib alone (see ``cli._PlotProcess``).
"""

import math
from numbers import Integral

import numpy as np

__all__ = ["CostCurveDisplay", "plot_image_grid"]


def _check_matplotlib(caller_name):
    """Import matplotlib, or raise an ImportError that names the extra."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(
            f"{caller_name} needs matplotlib, which is not installed; install it "
            "with: pip install 'sklearn-catneuron[plots]'"
        ) from exc
    return matplotlib


def _new_axes(caller_name):
    _check_matplotlib(caller_name)
    import matplotlib.pyplot as plt

    return plt.subplots()[1]


class CostCurveDisplay:
    """Cost curve of gradient descent: the cost before each step.

    Use :meth:`from_estimator` to draw the curve of a fitted
    :class:`SigmoidNeuronClassifier` (or of a Pipeline ending in one), with
    its validation curve when it was fitted with one. Several displays can
    share one axes, to compare runs. All parameters are stored as attributes.

    Parameters
    ----------
    loss_curve : array-like of shape (n_steps,)
        The cost before each step, like ``SigmoidNeuronClassifier.loss_curve_``.

    validation_loss_curve : array-like of shape (n_steps,), default=None
        The validation cost before each step, like
        ``SigmoidNeuronClassifier.validation_loss_curve_``: drawn dashed, in
        the same axes, the two curves labelled "training" and "validation".

    best_iteration : int, default=None
        The step with the lowest validation cost, like ``best_iteration_``:
        marked on the validation curve (when it is one of its steps).

    name : str, default=None
        Label of the curve in the legend (prefix of both labels when there is
        a validation curve); no legend entry if None and no validation curve.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The cost curve.

    validation_line_ : matplotlib Line2D or None
        The validation cost curve, if any.

    best_marker_ : matplotlib Line2D or None
        The marker of the lowest validation cost, if any.

    ax_ : matplotlib Axes
        The axes holding the curve.

    figure_ : matplotlib Figure
        The figure holding the axes.

    See Also
    --------
    CostCurveDisplay.from_estimator : Plot the curve of a fitted estimator.
    plot_image_grid : Show images with their true and predicted labels.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_catneuron import CostCurveDisplay, SigmoidNeuronClassifier
    >>> X = np.array([[0.0, 0.1], [0.2, 0.1], [0.9, 0.8], [1.0, 0.7]])
    >>> y = np.array([0, 0, 1, 1])
    >>> clf = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=50).fit(X, y)
    >>> display = CostCurveDisplay.from_estimator(clf, name="learning rate 0.5")
    >>> display.line_.get_xydata().shape
    (50, 2)
    >>> display.ax_.get_xlabel()
    'gradient-descent step'
    >>> import matplotlib.pyplot as plt
    >>> plt.close(display.figure_)

    With a validation set, both curves and the step of the lowest validation
    cost:

    >>> X_val, y_val = np.array([[0.1, 0.3], [0.8, 0.9]]), np.array([0, 1])
    >>> clf = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=50)
    >>> clf = clf.fit(X, y, X_val=X_val, y_val=y_val)
    >>> display = CostCurveDisplay.from_estimator(clf)
    >>> [t.get_text() for t in display.ax_.get_legend().get_texts()][:2]
    ['training', 'validation']
    >>> plt.close(display.figure_)
    """

    def __init__(
        self, *, loss_curve, validation_loss_curve=None, best_iteration=None,
        name=None,
    ):  # fmt: skip
        self.loss_curve = loss_curve
        self.validation_loss_curve = validation_loss_curve
        self.best_iteration = best_iteration
        self.name = name

    def plot(self, ax=None, *, name=None, **kwargs):
        """Draw the cost curve.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on (possibly holding other curves); a new figure and
            axes if None.

        name : str, default=None
            Legend label; overrides the ``name`` given at construction.

        **kwargs : dict
            Passed to ``matplotlib.axes.Axes.plot`` (e.g. ``color``,
            ``linestyle``).

        Returns
        -------
        display : CostCurveDisplay
            Object that stores the computed values and the artists.

        Raises
        ------
        ImportError
            If matplotlib is not installed; the message names the extra.
        ValueError
            If ``loss_curve`` or ``validation_loss_curve`` is not a non-empty
            1-D array of numbers, or ``best_iteration`` is not a step number
            (0 to the length of the validation curve).

        See Also
        --------
        CostCurveDisplay.from_estimator : Plot the curve of a fitted estimator.

        Examples
        --------
        Draw the curves of two runs on one axes:

        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from sklearn_catneuron import CostCurveDisplay
        >>> fig, ax = plt.subplots()
        >>> slow = CostCurveDisplay(loss_curve=[0.69, 0.6, 0.55], name="slow")
        >>> fast = CostCurveDisplay(loss_curve=[0.69, 0.4, 0.3], name="fast")
        >>> slow.plot(ax=ax).ax_ is fast.plot(ax=ax, linestyle="--").ax_
        True
        >>> [text.get_text() for text in ax.get_legend().get_texts()]
        ['slow', 'fast']
        >>> plt.close(fig)
        """
        if ax is None:
            ax = _new_axes("CostCurveDisplay.plot")
        else:
            _check_matplotlib("CostCurveDisplay.plot")
        loss_curve = _check_curve(self.loss_curve, "loss_curve")
        validation = self.validation_loss_curve
        if validation is not None:
            validation = _check_curve(validation, "validation_loss_curve")
            best = self.best_iteration
            if best is not None and not (
                isinstance(best, Integral | np.integer)
                and not isinstance(best, bool)
                and 0 <= best <= validation.size
            ):
                raise ValueError(
                    f"best_iteration must be a step number from 0 to "
                    f"{validation.size}, got {best!r}."
                )
        name = self.name if name is None else name
        if validation is None:
            line_kwargs = {} if name is None else {"label": name}
        else:
            line_kwargs = {"label": "training" if name is None else f"{name}, training"}
        line_kwargs.update(kwargs)
        (self.line_,) = ax.plot(np.arange(loss_curve.size), loss_curve, **line_kwargs)
        self.validation_line_ = self.best_marker_ = None
        if validation is not None:
            label = "validation" if name is None else f"{name}, validation"
            (self.validation_line_,) = ax.plot(
                np.arange(validation.size), validation, linestyle="--",
                color=self.line_.get_color(), label=label,
            )  # fmt: skip
            best = self.best_iteration
            if best is not None and best < validation.size:
                (self.best_marker_,) = ax.plot(
                    [best], [validation[best]], marker="o", linestyle="none",
                    color=self.line_.get_color(),
                    label=f"lowest validation cost (step {best})",
                )  # fmt: skip
        ax.set_xlabel("gradient-descent step")
        ax.set_ylabel("cost (mean cross-entropy)")
        if "label" in line_kwargs:
            ax.legend(loc="upper right")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, name=None, **kwargs):
        """Plot the cost curve of a fitted estimator.

        With the validation curve and the best step when the estimator has
        them (``validation_loss_curve_``, ``best_iteration_``: fitted with
        ``X_val`` and ``y_val`` or ``early_stopping``).

        Parameters
        ----------
        estimator : estimator instance
            A fitted :class:`SigmoidNeuronClassifier`, or a fitted Pipeline
            whose last step is one (any estimator with ``loss_curve_`` works).

        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure and axes if None.

        name : str, default=None
            Legend label. If None, the name of the estimator's class.

        **kwargs : dict
            Passed to ``matplotlib.axes.Axes.plot``.

        Returns
        -------
        display : CostCurveDisplay
            Object that stores the computed values and the artists.

        Raises
        ------
        ImportError
            If matplotlib is not installed; the message names the extra.
        NotFittedError
            If the estimator (or the pipeline's last step) is not fitted.
        ValueError
            If the estimator has no ``loss_curve_``.

        See Also
        --------
        CostCurveDisplay.plot : Draw a curve given as an array.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> import numpy as np
        >>> from sklearn.pipeline import make_pipeline
        >>> from sklearn_catneuron import (
        ...     CostCurveDisplay, ImageFlattener, SigmoidNeuronClassifier
        ... )
        >>> images = np.zeros((4, 2, 2, 3), dtype=np.uint8)
        >>> images[2:] = 255  # two white pictures of class 1
        >>> model = make_pipeline(
        ...     ImageFlattener(), SigmoidNeuronClassifier(max_iter=30)
        ... ).fit(images, [0, 0, 1, 1])
        >>> display = CostCurveDisplay.from_estimator(model, color="black")
        >>> display.line_.get_label(), len(display.line_.get_xdata())
        ('SigmoidNeuronClassifier', 30)
        >>> plt.close(display.figure_)
        """
        from sklearn.pipeline import Pipeline
        from sklearn.utils.validation import check_is_fitted

        _check_matplotlib(f"{cls.__name__}.from_estimator")
        final = estimator[-1] if isinstance(estimator, Pipeline) else estimator
        check_is_fitted(final)
        if not hasattr(final, "loss_curve_"):
            raise ValueError(
                f"{type(final).__name__} has no loss_curve_; pass a fitted "
                "SigmoidNeuronClassifier or a Pipeline that ends in one."
            )
        validation = getattr(final, "validation_loss_curve_", None)
        if name is None and validation is None:
            name = type(final).__name__
        display = cls(
            loss_curve=final.loss_curve_, validation_loss_curve=validation,
            best_iteration=getattr(final, "best_iteration_", None), name=name,
        )  # fmt: skip
        return display.plot(ax=ax, **kwargs)


def _check_curve(curve, what):
    """``curve`` as a non-empty 1-D float array."""
    curve = np.asarray(curve, dtype=float)
    if curve.ndim != 1 or curve.size == 0:
        raise ValueError(
            f"{what} must be a non-empty 1-D array of costs, got shape {curve.shape}."
        )
    return curve


def plot_image_grid(
    images,
    y_true=None,
    y_pred=None,
    *,
    target_names=None,
    ncols=5,
    fig=None,
):
    """Show images in a grid, titled with their predicted and true labels.

    For instance the misclassified test pictures: titles show the prediction
    over the true label, in red where they differ.

    Parameters
    ----------
    images : array-like of shape (n_images, height, width, channels) or \
(n_images, height, width)
        uint8 pictures (0..255), or floats in [0, 1] or in [0, 255] (such as
        ``ImageFlattener.inverse_transform`` returns). ``channels`` is 1, 3
        (RGB) or 4 (RGBA); grayscale images are shown in gray.

    y_true : array-like of shape (n_images,), default=None
        True labels, shown as "true: ...".

    y_pred : array-like of shape (n_images,), default=None
        Predicted labels, shown as "pred: ...".

    target_names : array-like of str, default=None
        Names of the classes, indexed by integer labels (e.g.
        ``["non-cat", "cat"]``). If None, labels are shown as they are.

    ncols : int, default=5
        Number of columns of the grid.

    fig : matplotlib Figure, default=None
        An empty figure to draw into; a new one sized to the grid if None.

    Returns
    -------
    fig : matplotlib Figure
        The figure; ``fig.axes`` holds one axes per cell, row by row.

    Raises
    ------
    ImportError
        If matplotlib is not installed; the message names the extra.
    ValueError
        If ``images`` is not a non-empty array of images of finite values in
        [0, 1] or [0, 255]; if ``y_true`` or ``y_pred`` has not one label per
        image, or, with ``target_names``, holds labels that are not class
        indices; or if ``ncols`` is not a positive integer.

    See Also
    --------
    CostCurveDisplay : The cost curve of gradient descent.
    ImageFlattener.inverse_transform : Turn flattened rows back into images.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_catneuron import plot_image_grid
    >>> images = np.zeros((3, 8, 8, 3), dtype=np.uint8)
    >>> fig = plot_image_grid(
    ...     images, y_true=[1, 0, 1], y_pred=[1, 1, 1],
    ...     target_names=["non-cat", "cat"], ncols=2,
    ... )
    >>> [ax.get_title() for ax in fig.axes[:3]]
    ['pred: cat\\ntrue: cat', 'pred: cat\\ntrue: non-cat', 'pred: cat\\ntrue: cat']
    >>> import matplotlib.pyplot as plt
    >>> plt.close(fig)
    """
    _check_matplotlib("plot_image_grid")
    images = _check_images(images)
    n_images = images.shape[0]
    if not isinstance(ncols, Integral) or isinstance(ncols, bool) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}.")
    y_true = _check_labels(y_true, "y_true", n_images, target_names)
    y_pred = _check_labels(y_pred, "y_pred", n_images, target_names)

    ncols = min(ncols, n_images)
    nrows = math.ceil(n_images / ncols)
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(1.8 * ncols, 2.1 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index >= n_images:
            continue
        image = images[index]
        if image.ndim == 2:
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(image)
        lines, wrong = [], False
        if y_pred is not None:
            lines.append(f"pred: {y_pred[index]}")
        if y_true is not None:
            lines.append(f"true: {y_true[index]}")
            wrong = y_pred is not None and y_pred[index] != y_true[index]
        if lines:
            color = "tab:red" if wrong else "black"
            ax.set_title("\n".join(lines), fontsize=9, color=color)
    fig.tight_layout()
    return fig


def _check_images(images):
    """Images as uint8 of shape (n, h, w) or (n, h, w, 3 or 4)."""
    images = np.asarray(images)
    if (
        images.ndim not in (3, 4)
        or images.shape[0] == 0
        or (images.ndim == 4 and images.shape[-1] not in (1, 3, 4))
    ):
        raise ValueError(
            "images must be a non-empty array of shape (n_images, height, width) "
            f"or (n_images, height, width, 1, 3 or 4 channels), got shape "
            f"{images.shape}. Turn flat rows back into images with "
            "ImageFlattener.inverse_transform."
        )
    if images.dtype.kind not in "uif" or not np.all(np.isfinite(images)):
        raise ValueError(
            f"images must hold finite numbers, got dtype {images.dtype} with "
            "NaN or inf values or non-numbers."
        )
    low, high = images.min(), images.max()
    if low < 0 or high > 255:
        raise ValueError(
            f"Pixel values must lie in [0, 1] or [0, 255], got [{low}, {high}]."
        )
    if images.dtype.kind == "f" and high <= 1:
        images = images * 255
    images = np.rint(images).astype(np.uint8)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    return images


def _check_labels(labels, what, n_images, target_names):
    """Labels as display strings, one per image (or None)."""
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.shape != (n_images,):
        raise ValueError(
            f"{what} must have one label per image ({n_images}), got shape "
            f"{labels.shape}."
        )
    if target_names is None:
        return [str(label) for label in labels]
    target_names = np.asarray(target_names)
    if labels.dtype.kind not in "iu" or not np.all(
        (labels >= 0) & (labels < len(target_names))
    ):
        raise ValueError(
            f"With target_names, {what} must hold integer class indices in "
            f"[0, {len(target_names) - 1}], got the values "
            f"{np.unique(labels).tolist()}."
        )
    return [str(name) for name in target_names[labels]]
