"""ImageFlattener: the "flatten, then divide by 255" step as a transformer."""

import math
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._array_api import _max_precision_float_dtype
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import (
    _check_feature_names,
    _check_feature_names_in,
    check_array,
    check_is_fitted,
    validate_data,
)

from sklearn_catneuron._array_api import device_namespace, float_dtypes
from sklearn_catneuron._dask import is_dask_array
from sklearn_catneuron._threads import for_each_block

__all__ = ["ImageFlattener"]


class ImageFlattener(TransformerMixin, BaseEstimator):
    """Flatten images to rows of pixels and scale them to [0, 1].

    The preprocessing of the reference cat classifier as one Pipeline step:
    each image of shape (height, width, channels) becomes one row of
    ``height * width * channels`` values, divided by ``max_value``.

    Parameters
    ----------
    max_value : float, default=255.0
        The largest pixel value; pixels are divided by it. Values below 0 or
        above it are refused, not clipped. Positive, and at most the largest
        float64.

    Attributes
    ----------
    image_shape_ : tuple of int
        Shape of one image seen during ``fit``: ``(height, width, channels)``,
        ``(height, width)``, or ``(n_features,)`` for already-flat input.

    n_features_in_ : int
        Number of values per image, the product of ``image_shape_``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``; only when ``X`` is a 2-D
        DataFrame with string column names.

    See Also
    --------
    SigmoidNeuronClassifier : The classifier this step feeds.
    sklearn.preprocessing.MinMaxScaler : Scale features by their own range.

    Notes
    -----
    Images are flattened in C order (row, then column, then channel), as
    ``images.reshape(len(images), -1)`` does. Output columns are named
    ``pixel_r{row}_c{column}_ch{channel}`` (``pixel_r{row}_c{column}`` for
    grayscale images) by :meth:`get_feature_names_out`.

    float32 input gives float32 output; any other numeric input gives float64.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_catneuron import ImageFlattener
    >>> images = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
    >>> flattener = ImageFlattener().fit(images)
    >>> flattener.image_shape_
    (2, 2, 3)
    >>> flattener.transform(images).shape
    (2, 12)
    >>> flattener.get_feature_names_out()[:2]
    array(['pixel_r0_c0_ch0', 'pixel_r0_c0_ch1'], dtype=object)
    """

    _parameter_constraints: dict = {
        "max_value": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, *, max_value=255.0):
        self.max_value = max_value

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the image shape.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width[, channels]) or \
(n_samples, n_features)
            Training images.

        y : None
            Ignored.

        Returns
        -------
        self : ImageFlattener
            The fitted transformer.

        Raises
        ------
        ValueError
            If ``max_value`` is not a positive number that a float64 holds
            (scikit-learn's ``InvalidParameterError``, also a ``TypeError``,
            for a non-positive or non-numeric one), or ``X`` is not
            numeric, has NaN or inf values, pixel values below 0 or above
            ``max_value`` (the message counts them), no samples, or 1 or more
            than 4 dimensions.
        TypeError
            If ``X`` holds booleans (or is sparse).

        See Also
        --------
        transform : Flatten and scale images of the fitted shape.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_catneuron import ImageFlattener
        >>> images = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
        >>> ImageFlattener().fit(images).image_shape_
        (2, 2, 3)
        >>> ImageFlattener().fit(images[..., 0]).image_shape_  # grayscale
        (2, 2)
        """
        _check_divisor(self.max_value)
        if is_dask_array(X):
            self._check_dask_images(X, reset=True)
        else:
            self._flatten(X, reset=True, check_values=True)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Learn the image shape, then flatten and scale the images.

        The same as ``fit(X).transform(X)``, with the images validated once.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width[, channels]) or \
(n_samples, n_features)
            Training images.

        y : None
            Ignored.

        Returns
        -------
        X_flat : ndarray of shape (n_samples, `n_features_in_`)
            Values in [0, 1]; float32 for float32 input, float64 otherwise.

        See Also
        --------
        fit : Learn the image shape.
        transform : Flatten and scale images of the fitted shape.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_catneuron import ImageFlattener
        >>> images = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
        >>> ImageFlattener().fit_transform(images)[1, -3:].round(4)
        array([0.0824, 0.0863, 0.0902])
        """
        _check_divisor(self.max_value)
        if is_dask_array(X):
            self._check_dask_images(X, reset=True)
            return _flatten_dask_images(X, self.max_value)
        return _scale(self._flatten(X, reset=True), self.max_value)

    def transform(self, X):
        """Flatten the images and divide them by ``max_value``.

        Parameters
        ----------
        X : array-like of shape (n_samples, `*image_shape_`) or \
(n_samples, `n_features_in_`)
            Images of the shape seen in ``fit``, or the same images flattened.

        Returns
        -------
        X_flat : ndarray of shape (n_samples, `n_features_in_`)
            Values in [0, 1]; float32 for float32 input, float64 otherwise.

        Raises
        ------
        NotFittedError
            If the transformer is not fitted yet.
        ValueError
            If the images have another shape than in ``fit``, or values that
            ``fit`` would refuse (NaN, inf, below 0, above ``max_value``).

        See Also
        --------
        inverse_transform : Turn the rows back into images.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_catneuron import ImageFlattener
        >>> images = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
        >>> flattener = ImageFlattener().fit(images)
        >>> flattener.transform(images)[0, :4].round(4)
        array([0.    , 0.0039, 0.0078, 0.0118])
        >>> flattener.transform(np.zeros((1, 3, 3, 3)))
        Traceback (most recent call last):
            ...
        ValueError: Image shape (3, 3, 3) does not match the fitted shape (2, 2, 3); \
resize the images.
        """
        check_is_fitted(self)
        if is_dask_array(X):
            self._check_dask_images(X, reset=False)
            return _flatten_dask_images(X, self.max_value)
        return _scale(self._flatten(X, reset=False), self.max_value)

    def inverse_transform(self, X):
        """Turn rows of scaled pixels back into images of ``image_shape_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, `n_features_in_`)
            Scaled, flattened images.

        Returns
        -------
        images : ndarray of shape (n_samples, `*image_shape_`)
            Values in [0, ``max_value``] (floats; use ``np.rint(...).astype(
            np.uint8)`` for 8-bit pictures).

        Raises
        ------
        NotFittedError
            If the transformer is not fitted yet.
        ValueError
            If ``X`` is not 2-D numeric input or has another number of columns
            than ``n_features_in_``.

        See Also
        --------
        transform : The flattening this undoes.
        plot_image_grid : Show the resulting images.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_catneuron import ImageFlattener
        >>> images = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
        >>> flattener = ImageFlattener().fit(images)
        >>> back = flattener.inverse_transform(flattener.transform(images))
        >>> back.shape, bool(np.array_equal(back, images))
        ((2, 2, 2, 3), True)
        """
        check_is_fitted(self)
        xp, _ = device_namespace(X)
        X = check_array(X, dtype=float_dtypes(xp))
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input."
            )
        if xp is not None:
            return xp.reshape(X * self.max_value, (X.shape[0], *self.image_shape_))
        return (X * self.max_value).reshape((X.shape[0], *self.image_shape_))

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns, one per pixel.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only for already-flat input: the input column names (as in
            scikit-learn's one-to-one transformers).

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``pixel_r{row}_c{column}_ch{channel}`` for colour images,
            ``pixel_r{row}_c{column}`` for grayscale ones, the input names for
            flat input.

        Raises
        ------
        NotFittedError
            If the transformer is not fitted yet.
        ValueError
            If ``input_features`` is given for images, or does not match the
            flat input seen in ``fit``.

        See Also
        --------
        transform : The output these names describe.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_catneuron import ImageFlattener
        >>> images = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
        >>> ImageFlattener().fit(images[..., 0]).get_feature_names_out()
        array(['pixel_r0_c0', 'pixel_r0_c1', 'pixel_r1_c0', 'pixel_r1_c1'],
              dtype=object)
        """
        check_is_fitted(self)
        if len(self.image_shape_) == 1:
            return _check_feature_names_in(self, input_features)
        if input_features is not None:
            raise ValueError(
                "input_features is only accepted for flat (2-D) input; images "
                f"of shape {self.image_shape_} have generated pixel names."
            )
        prefixes = ("pixel_r", "_c", "_ch")
        grids = np.indices(self.image_shape_).reshape(len(self.image_shape_), -1).T
        names = [
            "".join(
                f"{prefix}{index}" for prefix, index in zip(prefixes, idx, strict=False)
            )
            for idx in grids
        ]
        return np.asarray(names, dtype=object)

    def _flatten(self, X, *, reset, check_values=False):
        """Validate ``X`` and check its image shape; return it 2-D.

        The pixel values are checked only with ``check_values=True``:
        :func:`_scale_pixels` checks them as it reads them.
        """
        if getattr(X, "ndim", None) != 2:  # DataFrames go on to keep their names
            X = check_array(X, allow_nd=True, dtype="numeric", ensure_all_finite=False)
        if X.ndim > 4:
            raise ValueError(
                f"X has {X.ndim} dimensions (shape {X.shape}); {type(self).__name__} "
                "expects images shaped (n_samples, height, width[, channels]) or "
                "flat rows (n_samples, n_features)."
            )
        xp, _ = device_namespace(X)
        if X.ndim > 2:
            image_shape = tuple(int(size) for size in X.shape[1:])
            if not reset and image_shape != self.image_shape_:
                raise ValueError(
                    f"Image shape {image_shape} does not match the fitted shape "
                    f"{self.image_shape_}; resize the images."
                )
            if xp is not None:
                X = xp.reshape(X, (X.shape[0], -1))
            else:
                X = X.reshape(X.shape[0], -1)
        else:
            image_shape = None
        X = validate_data(
            self, X, reset=reset, dtype="numeric", ensure_all_finite=False
        )
        if xp is not None:
            if xp.isdtype(X.dtype, ("bool", "complex floating")):
                raise TypeError(
                    f"{type(self).__name__} needs real pixel values, got dtype "
                    f"{X.dtype}; convert the images to uint8 or float."
                )
            if reset:
                self.image_shape_ = image_shape or (int(X.shape[1]),)
            # On the device the values are checked here, whatever check_values.
            _check_pixel_values_on_device(X, self.max_value, xp)
            return X
        if np.iscomplexobj(X) or X.dtype.kind == "b":
            raise TypeError(
                f"{type(self).__name__} needs real pixel values, got dtype "
                f"{X.dtype}; convert the images to uint8 or float."
            )
        if reset:
            self.image_shape_ = image_shape or (X.shape[1],)
        if check_values:
            _check_pixel_values(X, self.max_value)
        return X

    def _check_dask_images(self, X, *, reset):
        """Shape checks for a Dask array; values are checked chunk by chunk."""
        if not 2 <= X.ndim <= 4:
            raise ValueError(
                f"X has {X.ndim} dimensions (shape {X.shape}); {type(self).__name__} "
                "expects images shaped (n_samples, height, width[, channels]) or "
                "flat rows (n_samples, n_features)."
            )
        image_shape = tuple(int(size) for size in X.shape[1:])
        if reset:
            self.image_shape_ = image_shape
            self.n_features_in_ = int(np.prod(image_shape))
            _check_feature_names(self, X, reset=True)
        elif image_shape not in (self.image_shape_, (self.n_features_in_,)):
            raise ValueError(
                f"Image shape {image_shape} does not match the fitted shape "
                f"{self.image_shape_}; resize the images."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.positive_only = True
        tags.array_api_support = True
        return tags


def _check_divisor(max_value):
    """Refuse a ``max_value`` that no float64 holds (a huge int, say): the
    pixels are divided by it as a float64. (The parameter constraint cannot
    say so: comparing such an int with a float bound overflows.)"""
    try:
        finite = math.isfinite(float(max_value))
    except OverflowError:
        finite = False
    if not finite:
        raise ValueError(
            f"max_value={max_value!r} is larger than any float64; pixels are "
            "divided by it as a float64: give the images' largest value."
        )


# Rows are checked and scaled in blocks of about this many input bytes, so that
# the min, the max and the division read a block from cache, not from memory.
_BLOCK_BYTES = 1 << 20


def _row_blocks(X):
    """Slices of rows of ``X`` (2-D) holding about ``_BLOCK_BYTES`` each."""
    row_bytes = max(X.shape[1] * X.itemsize, 1)
    step = max(_BLOCK_BYTES // row_bytes, 1)
    return [slice(start, start + step) for start in range(0, X.shape[0], step)]


def _needs_range_check(dtype, max_value):
    """False for integer pixels that cannot fall outside [0, max_value] (uint8)."""
    return not (dtype.kind == "u" and np.iinfo(dtype).max <= max_value)


def _in_range(block, max_value):
    """Whether all of ``block`` is finite and in [0, max_value].

    One min and one max: NaN propagates to both (and fails both comparisons),
    +inf shows in the max and -inf in the min; no temporary arrays.
    """
    if block.size == 0:
        return True
    low = 0 if block.dtype.kind == "u" else block.min()
    return bool(low >= 0 and block.max() <= max_value)


def _check_pixel_values(X, max_value, where=""):
    """Refuse NaN, infinity and values outside [0, max_value], with counts."""
    if not _needs_range_check(X.dtype, max_value):
        return
    if all(_in_range(X[rows], max_value) for rows in _row_blocks(X)):
        return
    _raise_for_pixel_values(X, max_value, where)


def _raise_for_pixel_values(X, max_value, where):
    """Count the bad values of ``X`` for the message (only on the error path)."""
    n_nan = int(np.count_nonzero(np.isnan(X))) if X.dtype.kind == "f" else 0
    n_inf = int(np.count_nonzero(np.isinf(X))) if X.dtype.kind == "f" else 0
    if n_nan or n_inf:
        raise ValueError(
            f"X contains {n_nan} NaN and {n_inf} infinite (inf) values{where}; "
            "replace or drop those images first."
        )
    n_low = int(np.count_nonzero(X < 0))
    n_high = int(np.count_nonzero(X > max_value))
    what = "Negative values in data" if n_low else "Values above max_value"
    raise ValueError(
        f"{what} passed to ImageFlattener: {n_low} values below 0 and "
        f"{n_high} above max_value={max_value}{where}. Pixels must lie in "
        f"[0, {max_value}]; set max_value to the images' range."
    )


def _check_pixel_values_on_device(X, max_value, xp):
    """:func:`_check_pixel_values` for a non-NumPy ``X``, counted on its device."""
    where = ""
    if xp.isdtype(X.dtype, "real floating"):
        n_nan = int(xp.sum(xp.astype(xp.isnan(X), xp.int64)))
        n_inf = int(xp.sum(xp.astype(xp.isinf(X), xp.int64)))
        if n_nan or n_inf:
            raise ValueError(
                f"X contains {n_nan} NaN and {n_inf} infinite (inf) values{where}; "
                "replace or drop those images first."
            )
    limit = max_value
    if xp.isdtype(X.dtype, "integral"):  # an int limit: no mixed-kind comparison
        limit = math.floor(max_value)
        if limit >= xp.iinfo(X.dtype).max:
            limit = None  # no value of the dtype is above it
    n_low = int(xp.sum(xp.astype(X < 0, xp.int64)))
    n_high = 0 if limit is None else int(xp.sum(xp.astype(X > limit, xp.int64)))
    if n_low or n_high:
        what = "Negative values in data" if n_low else "Values above max_value"
        raise ValueError(
            f"{what} passed to ImageFlattener: {n_low} values below 0 and "
            f"{n_high} above max_value={max_value}{where}. Pixels must lie in "
            f"[0, {max_value}]; set max_value to the images' range."
        )


def _divide_on_device(X, max_value, xp, device):
    """``X / max_value`` in float32 for float32 input, else float64 (as NumPy).

    On a device without float64 (Apple MPS) the result is float32.
    """
    dtype = xp.float32
    if X.dtype != xp.float32 and _max_precision_float_dtype(xp, device) == xp.float64:
        dtype = xp.float64
    return xp.astype(X, dtype) / max_value


def _scale(X, max_value):
    """``X / max_value``: on the device for a non-NumPy ``X``, else in blocks."""
    xp, device = device_namespace(X)
    if xp is not None:
        return _divide_on_device(X, max_value, xp, device)
    return _scale_pixels(X, max_value)


def _scaled_dtype(dtype):
    """The dtype of the scaled pixels: float32 for float32, else float64."""
    return np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)


def _scale_rows(X, rows, max_value, out, where="", cast_first=False):
    """Check the rows ``rows`` of ``X`` (2-D) and write them divided to ``out``.

    ``out`` has the shape of ``X[rows]`` and the dtype of :func:`_scaled_dtype`.
    A bad value raises the error of :func:`_check_pixel_values`, counted over the
    whole of ``X``. The one place pixels are divided: :func:`_scale_pixels`
    fills a whole output with it, and the fused prediction path of
    :class:`~sklearn_catneuron.NeuronPipeline` fills a small reused buffer.
    ``cast_first``: see :func:`_divide_by_255` (same values either way).
    """
    block = X[rows]
    if _needs_range_check(X.dtype, max_value) and not _in_range(block, max_value):
        _raise_for_pixel_values(X, max_value, where)
    if (
        _BY_255_IS_EXACT
        and block.dtype == np.uint8
        and out.dtype == np.float64
        and float(max_value) == 255.0  # the divisor np.divide would use
    ):
        _divide_by_255(block, out, cast_first=cast_first)
    else:
        np.divide(block, max_value, out=out, dtype=out.dtype)


# x / 255 for uint8 x by two products instead of a division, which is the
# slowest float64 operation (scaling takes about 1.3x less time). Exact:
# 1/255 = 0x01010101 / (2^32 - 1) = 0x01010101 / 2^32 *
# (1 + 2^-32 + 2^-64 + ...). x * (0x01010101 / 2^32) is exact (at most 33
# significant bits); times (1 + 2^-32) it is within 2^-64 relative of x / 255,
# and rounds to the same float64 as the division does: checked below for all
# 256 values, and the division is kept if a platform disagreed.
_BY_255_HEAD = 0x01010101 / 2**32
_BY_255_TAIL = 1 + 2**-32


def _divide_by_255(pixels, out, cast_first=False):
    """``np.divide(pixels, 255.0, out=out)`` for uint8 ``pixels``, bit for bit,
    into float64 ``out`` (same shape).

    ``cast_first``: convert ``pixels`` in a call of its own, then multiply in
    place twice: faster when ``out`` is small enough to stay in cache and one
    thread runs; otherwise one call fewer (NumPy converts in small buffers
    as it multiplies), which is faster when two threads take turns at the GIL.
    """
    if cast_first:
        np.copyto(out, pixels)
        np.multiply(out, _BY_255_HEAD, out=out)
    else:
        np.multiply(pixels, _BY_255_HEAD, out=out, dtype=np.float64)
    np.multiply(out, _BY_255_TAIL, out=out)


def _by_255_is_exact():
    values = np.arange(256, dtype=np.uint8)
    quotients = np.divide(values, 255.0)
    products = np.empty(256)
    for cast_first in (False, True):
        _divide_by_255(values, products, cast_first=cast_first)
        if not np.array_equal(products, quotients):
            return False
    return True


_BY_255_IS_EXACT = _by_255_is_exact()


def _scale_pixels(X, max_value, where="", n_threads=None):
    """Check the pixels of ``X`` (2-D) and return ``X / max_value``.

    float32 stays float32, anything else becomes float64, with the rounding of
    ``np.divide(X, max_value, dtype=dtype)``. The output is allocated once and
    filled block by block, each block checked just before it is divided, so
    the input is read from memory once and no temporary of the size of ``X``
    is made. Two threads (one with ``OMP_NUM_THREADS=1``) fill halves of the
    blocks (the division and the first touch of the output's memory run on
    both cores); a bad value raises the same error whichever thread meets it.
    """
    out = np.empty(X.shape, dtype=_scaled_dtype(X.dtype))

    def make_step(share):
        return lambda rows: _scale_rows(X, rows, max_value, out[rows], where)

    for_each_block(_row_blocks(X), make_step, n_threads=n_threads)
    return out


def _flatten_block(block, max_value):
    """Flatten and scale one row chunk of a Dask array (checked as it goes)."""
    # One thread: Dask's own workers already keep the cores busy.
    return _scale_pixels(
        block.reshape(block.shape[0], -1), max_value, " in one chunk", n_threads=1
    )


def _flatten_dask_images(X, max_value):
    """Lazily flatten and scale a Dask array of images, one row chunk at a time.

    Values are checked chunk by chunk when the result is computed.
    """
    X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    n_features = int(np.prod(X.shape[1:]))
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    return X.map_blocks(
        _flatten_block,
        max_value,
        dtype=dtype,
        chunks=(X.chunks[0], (n_features,)),
        drop_axis=tuple(range(2, X.ndim)),
        meta=np.empty((0, 0), dtype=dtype),
    )
