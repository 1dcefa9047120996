"""NeuronPipeline: a Pipeline that predicts from images without flattening them all."""

from numbers import Real

import numpy as np
from sklearn import get_config
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline, _final_estimator_has, _name_estimators
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from sklearn_catneuron._gram import scaled_pixels
from sklearn_catneuron._neuron import (
    SigmoidNeuronClassifier,
    _BlockScores,
    _labels_from_scores,
    _log_proba_from_scores,
    _proba_from_log_proba,
    _score_row_blocks,
)
from sklearn_catneuron._neuron_cv import SigmoidNeuronClassifierCV
from sklearn_catneuron._preprocessing import ImageFlattener, _scale_rows, _scaled_dtype
from sklearn_catneuron._threads import for_each_block, thread_budget

__all__ = ["NeuronPipeline", "make_neuron_pipeline"]

# The exact step types the fused path knows; subclasses may change what their
# methods compute, so they take the plain Pipeline path.
_FLATTENERS = (ImageFlattener,)
_CLASSIFIERS = (SigmoidNeuronClassifier, SigmoidNeuronClassifierCV)
_ARRAY_TYPES = (np.ndarray, np.memmap)


class NeuronPipeline(Pipeline):
    """A Pipeline whose predictions from images skip the flattened copy.

    It is a :class:`~sklearn.pipeline.Pipeline` in every way (same parameters,
    ``fit``, ``clone``, grid searches, metadata routing), except that
    :meth:`predict`, :meth:`predict_proba`, :meth:`predict_log_proba` and
    :meth:`decision_function` of a fitted ``ImageFlattener`` followed by a
    ``SigmoidNeuronClassifier`` (or ``SigmoidNeuronClassifierCV``) take a
    fused path: a few rows at a time are checked and divided into a small
    reused buffer, then multiplied by the coefficients, in two threads (one
    with ``OMP_NUM_THREADS=1``, as scikit-learn's own threads).
    The flattened float copy of all the images (983 MB for 10,000 images of
    64x64x3 pixels) is never made, and the outputs are bit for bit those of
    the plain pipeline, errors and their messages included.

    Every other case takes the :class:`~sklearn.pipeline.Pipeline` path: other
    steps (subclasses included), an unfitted step, parameters passed to the
    method, input that is not a NumPy array (lists, DataFrames, Dask arrays,
    sparse matrices), ``array_api_dispatch`` or a non-default ``set_output``,
    or too few rows to gain anything.

    Its :meth:`fit` from uint8 images (same steps, no fit parameters) lets
    the classifier sum ``X X^T`` exactly from the integer pixels in float32
    blocks (1.2x faster than ``X @ X.T`` on one thread), and skip its second
    scan of ``X`` for NaN: the iterates equal the plain pipeline's to rounding.

    Parameters
    ----------
    steps : list of tuples
        ``(name, estimator)`` pairs, as for :class:`~sklearn.pipeline.Pipeline`.

    transform_input : list of str, default=None
        As for :class:`~sklearn.pipeline.Pipeline` (metadata routing only).

    memory : str or object with the joblib.Memory interface, default=None
        Caches the fitted transformers, as for
        :class:`~sklearn.pipeline.Pipeline`.

    verbose : bool, default=False
        Print the time taken by each step's ``fit``.

    See Also
    --------
    make_neuron_pipeline : Build one from a flattener and a classifier.
    sklearn.pipeline.Pipeline : The class this one extends.

    Notes
    -----
    Its attributes (``named_steps``, ``classes_``, ``n_features_in_``,
    ``feature_names_in_``) are those of :class:`~sklearn.pipeline.Pipeline`.

    The rows are taken in the same blocks as
    ``SigmoidNeuronClassifier.decision_function`` takes them on an already
    flattened ``X``, each block divided by the flattener's own code and scored
    by the classifier's own code, so both paths make the same BLAS calls on
    arrays of the same shapes. Memory: one buffer of about 0.8 MB (one thread)
    or two of about 1.5 MB (two threads) instead of a float copy of the images.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_catneuron import (
    ...     ImageFlattener, NeuronPipeline, SigmoidNeuronClassifier)
    >>> rng = np.random.default_rng(0)
    >>> images = rng.integers(0, 256, size=(400, 32, 32, 3), dtype=np.uint8)
    >>> y = (images[:, :8].mean(axis=(1, 2, 3)) > images.mean()).astype(int)
    >>> steps = [("flatten", ImageFlattener()), ("neuron", SigmoidNeuronClassifier())]
    >>> model = NeuronPipeline(steps).fit(images, y)
    >>> plain = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier()).fit(
    ...     images, y)
    >>> bool(np.array_equal(model.predict_proba(images), plain.predict_proba(images)))
    True
    """

    @available_if(_final_estimator_has("predict"))
    def predict(self, X, **params):
        """Predict the class of each image.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width[, channels]) or \
(n_samples, n_features)
            Images of the shape the first step was fitted on.

        **params : dict of str -> object
            As for :meth:`sklearn.pipeline.Pipeline.predict` (any of them
            takes the plain Pipeline path).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The predicted labels.

        See Also
        --------
        predict_proba : The probability of each class.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_catneuron import make_neuron_pipeline
        >>> images = np.zeros((4, 2, 2, 3), dtype=np.uint8)
        >>> images[2:] = 255
        >>> model = make_neuron_pipeline().fit(images, ["dog", "dog", "cat", "cat"])
        >>> model.predict(images)
        array(['dog', 'dog', 'cat', 'cat'], dtype='<U3')
        """
        fused = self._fused_scores(X, params)
        if fused is None:
            return super().predict(X, **params)
        return _labels_from_scores(fused, self.steps[-1][1].classes_)

    @available_if(_final_estimator_has("predict_proba"))
    def predict_proba(self, X, **params):
        """Class probabilities of each image.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width[, channels]) or \
(n_samples, n_features)
            Images of the shape the first step was fitted on.

        **params : dict of str -> object
            As for :meth:`sklearn.pipeline.Pipeline.predict_proba` (any of
            them takes the plain Pipeline path).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; each row sums to one.

        See Also
        --------
        predict_log_proba : The logarithm of these probabilities.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_catneuron import make_neuron_pipeline
        >>> images = np.zeros((4, 2, 2, 3), dtype=np.uint8)
        >>> images[2:] = 255
        >>> model = make_neuron_pipeline().fit(images, [0, 0, 1, 1])
        >>> model.predict_proba(images).round(2)
        array([[0.79, 0.21],
               [0.79, 0.21],
               [0.03, 0.97],
               [0.03, 0.97]])
        """
        fused = self._fused_scores(X, params)
        if fused is None:
            return super().predict_proba(X, **params)
        return _proba_from_log_proba(_log_proba_from_scores(fused))

    @available_if(_final_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X, **params):
        """Log of the class probabilities of each image.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width[, channels]) or \
(n_samples, n_features)
            Images of the shape the first step was fitted on.

        **params : dict of str -> object
            As for :meth:`sklearn.pipeline.Pipeline.predict_log_proba` (any of
            them takes the plain Pipeline path).

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.

        See Also
        --------
        predict_proba : The same, without the logarithm.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_catneuron import make_neuron_pipeline
        >>> images = np.zeros((4, 2, 2, 3), dtype=np.uint8)
        >>> images[2:] = 255
        >>> model = make_neuron_pipeline().fit(images, [0, 0, 1, 1])
        >>> np.exp(model.predict_log_proba(images)).sum(axis=1)
        array([1., 1., 1., 1.])
        """
        fused = self._fused_scores(X, params)
        if fused is None:
            return super().predict_log_proba(X, **params)
        return _log_proba_from_scores(fused)

    @available_if(_final_estimator_has("decision_function"))
    def decision_function(self, X, **params):
        """Scores of each image before the sigmoid.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width[, channels]) or \
(n_samples, n_features)
            Images of the shape the first step was fitted on.

        **params : dict of str -> object
            As for :meth:`sklearn.pipeline.Pipeline.decision_function` (any of
            them takes the plain Pipeline path).

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, positive scores favour ``classes_[1]``.

        See Also
        --------
        predict_proba : The scores through the sigmoid, as probabilities.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_catneuron import make_neuron_pipeline
        >>> images = np.zeros((4, 2, 2, 3), dtype=np.uint8)
        >>> images[2:] = 255
        >>> model = make_neuron_pipeline().fit(images, [0, 0, 1, 1])
        >>> model.decision_function(images).round(3)
        array([-1.297, -1.297,  3.509,  3.509])
        """
        fused = self._fused_scores(X, params)
        if fused is None:
            return super().decision_function(X, **params)
        return fused

    def fit(self, X, y=None, **params):
        """Fit the flattener, then the classifier on the flattened images.

        As :meth:`sklearn.pipeline.Pipeline.fit`. From uint8 images, the
        classifier's ``X X^T`` is summed exactly from the pixels (see the
        class description).

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width[, channels]) or \
(n_samples, n_features)
            Training images.

        y : array-like of shape (n_samples,)
            Their labels.

        **params : dict of str -> object
            As for :meth:`sklearn.pipeline.Pipeline.fit`.

        Returns
        -------
        self : NeuronPipeline
            The fitted pipeline.

        See Also
        --------
        sklearn.pipeline.Pipeline.fit : What this method does.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_catneuron import make_neuron_pipeline
        >>> images = np.zeros((4, 2, 2, 3), dtype=np.uint8)
        >>> images[2:] = 255
        >>> make_neuron_pipeline().fit(images, [0, 0, 1, 1]).n_features_in_
        12
        """
        pixels = self._exact_gram_pixels(X, params)
        if pixels is None:
            return super().fit(X, y, **params)
        with scaled_pixels(pixels, self.steps[0][1].max_value):
            return super().fit(X, y, **params)

    def _exact_gram_pixels(self, X, params):
        """``X`` as 2-D uint8 when the classifier may sum ``X X^T`` from it."""
        if (
            self._known_steps(X, params) is None
            or self.memory is not None
            or X.dtype != np.uint8
            or X.ndim not in (2, 3, 4)
            or X.size == 0
        ):
            return None
        return X.reshape(X.shape[0], -1)

    def _fused_scores(self, X, params):
        """The classifier's scores of ``X`` by the fused path, None if not valid."""
        steps = self._fused_steps(X, params)
        if steps is None:
            return None
        return _fused_scores(*steps, X)

    def _known_steps(self, X, params):
        """``(flattener, classifier)`` if the steps are exactly the known ones,
        ``X`` a NumPy array, no parameters and the default configuration."""
        if params or len(self.steps) != 2 or type(X) not in _ARRAY_TYPES:
            return None
        flattener, classifier = self.steps[0][1], self.steps[1][1]
        if type(flattener) not in _FLATTENERS or type(classifier) not in _CLASSIFIERS:
            return None
        config = get_config()
        output = getattr(flattener, "_sklearn_output_config", {}).get(
            "transform", config["transform_output"]
        )
        if config["array_api_dispatch"] or output != "default":
            return None
        return flattener, classifier

    def _fused_steps(self, X, params):
        """``(flattener, classifier)`` when the fused path is exactly valid."""
        steps = self._known_steps(X, params)
        if steps is None:
            return None
        flattener, classifier = steps
        try:
            check_is_fitted(flattener)
            check_is_fitted(classifier)
        except NotFittedError:
            return None  # the plain path raises the error
        fitted = (classifier.coef_, classifier.intercept_, classifier.classes_)
        if (
            not all(type(array) is np.ndarray for array in fitted)
            or getattr(classifier, "n_features_in_", None) != flattener.n_features_in_
            or hasattr(classifier, "feature_names_in_")
        ):
            return None  # the classifier's own checks raise or warn
        if X.ndim not in (2, 3, 4) or X.dtype.kind not in "uif":
            return None  # the flattener's checks raise
        dtype = _scaled_dtype(X.dtype)
        if not _divides_to_finite(flattener.max_value, dtype):
            return None  # the classifier's finite check would have work to do
        n_features = int(np.prod(X.shape[1:]))
        if len(_score_row_blocks(X.shape[0], n_features, dtype)) < 2:
            return None  # too few rows to gain anything
        return flattener, classifier


def _divides_to_finite(max_value, dtype):
    """Whether pixels in [0, ``max_value``] divided by it are always finite.

    They are when ``max_value`` in ``dtype`` is positive and finite: a pixel
    ``x <= max_value`` of the input gives ``x / max_value <= 1`` after
    rounding. A tiny ``max_value`` that rounds to 0 in float32, or an infinite
    one, can make NaN, which the classifier's own finite check refuses.
    """
    if not isinstance(max_value, Real):
        return False
    with np.errstate(over="ignore"):
        divisor = dtype.type(max_value)
    return bool(np.isfinite(divisor) and divisor > 0)


def _fused_scores(flattener, classifier, X):
    """``classifier.decision_function(flattener.transform(X))``, block by block.

    The blocks are those of ``_score_row_blocks`` for the flattened shape, so
    each block's product is the one ``decision_function`` takes on the whole
    flattened ``X``. The blocks are shared by two threads (see
    ``_threads.thread_budget``), each dividing its blocks into its own buffer.
    One thread scales and multiplies one block per turn, which stays in the
    core's cache; two threads take two blocks per turn (still in cache): half
    as many NumPy calls, so half as many hand-overs of the GIL between them.
    """
    X = flattener._flatten(X, reset=False)  # the checks of ``transform``
    dtype = _scaled_dtype(X.dtype)
    scores = _BlockScores(classifier.coef_, classifier.intercept_, *X.shape, dtype)
    n_threads = thread_budget()
    per_turn = 1 if n_threads == 1 else 2
    turns = {}  # the rows of a turn -> its blocks
    for i in range(0, len(scores.blocks), per_turn):
        blocks = scores.blocks[i : i + per_turn]
        turns[blocks[0].start, blocks[-1].stop] = blocks

    def make_step(share):
        # Sized for this thread's turns: all the buffers together hold at
        # most every row once (two turns of very wide rows), usually a few.
        n_rows = max(rows.stop - rows.start for rows in share)
        buffer = np.empty((n_rows, X.shape[1]), dtype)

        def step(rows):
            out = buffer[: rows.stop - rows.start]
            _scale_rows(X, rows, flattener.max_value, out, cast_first=n_threads == 1)
            for block in turns[rows.start, rows.stop]:
                start, stop = block.start - rows.start, block.stop - rows.start
                scores.fill(block, out[start:stop])

        return step

    for_each_block([slice(*rows) for rows in turns], make_step, n_threads)
    return scores.result()


def make_neuron_pipeline(
    flattener=None,
    classifier=None,
    *,
    transform_input=None,
    memory=None,
    verbose=False,
):
    """Build a :class:`NeuronPipeline` of a flattener and a classifier.

    The counterpart of ``make_pipeline(ImageFlattener(),
    SigmoidNeuronClassifier())``, with the same step names
    (``"imageflattener"``, ``"sigmoidneuronclassifier"``), so parameter names
    such as ``sigmoidneuronclassifier__learning_rate`` stay the same.

    Parameters
    ----------
    flattener : estimator, default=None
        The first step; None means ``ImageFlattener()``.

    classifier : estimator, default=None
        The last step; None means ``SigmoidNeuronClassifier()``.

    transform_input : list of str, default=None
        As for :func:`sklearn.pipeline.make_pipeline`.

    memory : str or object with the joblib.Memory interface, default=None
        As for :func:`sklearn.pipeline.make_pipeline`.

    verbose : bool, default=False
        Print the time taken by each step's ``fit``.

    Returns
    -------
    pipeline : NeuronPipeline
        The unfitted pipeline.

    See Also
    --------
    NeuronPipeline : What it builds, and when its fused path applies.

    Examples
    --------
    >>> from sklearn_catneuron import SigmoidNeuronClassifier, make_neuron_pipeline
    >>> make_neuron_pipeline()
    NeuronPipeline(steps=[('imageflattener', ImageFlattener()),
                          ('sigmoidneuronclassifier', SigmoidNeuronClassifier())])
    >>> model = make_neuron_pipeline(
    ...     classifier=SigmoidNeuronClassifier(learning_rate=0.01))
    >>> model.get_params()["sigmoidneuronclassifier__learning_rate"]
    0.01
    """
    if flattener is None:
        flattener = ImageFlattener()
    if classifier is None:
        classifier = SigmoidNeuronClassifier()
    return NeuronPipeline(
        _name_estimators([flattener, classifier]),
        transform_input=transform_input,
        memory=memory,
        verbose=verbose,
    )
