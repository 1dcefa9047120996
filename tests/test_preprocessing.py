"""ImageFlattener: shapes, dtypes, value checks, names and round trips."""

import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

from sklearn_catneuron import ImageFlattener, SigmoidNeuronClassifier, _preprocessing


@pytest.fixture
def images(rng):
    return rng.integers(0, 256, size=(5, 4, 3, 3), dtype=np.uint8)


def test_flattens_and_scales_like_the_reference(images):
    out = ImageFlattener().fit_transform(images)
    assert out.shape == (5, 36)
    assert out.dtype == np.float64
    assert_array_equal(out, images.reshape(5, -1) / 255.0)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_cat_images_transform_exactly(catvnoncat):
    X_train = catvnoncat[0]
    flattener = ImageFlattener().fit(X_train)
    assert flattener.image_shape_ == (64, 64, 3)
    assert flattener.n_features_in_ == 12288
    assert_array_equal(flattener.transform(X_train), X_train.reshape(209, -1) / 255)


@pytest.mark.parametrize(
    "shape, image_shape",
    [((5, 4, 3), (4, 3)), ((5, 12), (12,)), ((5, 2, 2, 3), (2, 2, 3))],
)
def test_accepts_grayscale_colour_and_flat(shape, image_shape, rng):
    X = rng.integers(0, 256, size=shape).astype(np.float64)
    flattener = ImageFlattener().fit(X)
    assert flattener.image_shape_ == image_shape
    assert flattener.n_features_in_ == int(np.prod(image_shape))
    assert flattener.transform(X).shape == (5, int(np.prod(image_shape)))


@pytest.mark.parametrize(
    "dtype, expected",
    [(np.float32, np.float32), (np.float64, np.float64), (np.uint8, np.float64),
     (np.int64, np.float64), (np.uint16, np.float64)],
)  # fmt: skip
def test_output_dtype(dtype, expected, images):
    assert ImageFlattener().fit_transform(images.astype(dtype)).dtype == expected


def test_flat_input_of_the_fitted_size_is_accepted(images):
    flattener = ImageFlattener().fit(images)
    assert_array_equal(
        flattener.transform(images.reshape(5, -1)), flattener.transform(images)
    )


def test_other_image_shape_names_both_shapes(images):
    flattener = ImageFlattener().fit(images)
    with pytest.raises(ValueError, match=r"\(3, 4, 3\) does not match.*\(4, 3, 3\)"):
        flattener.transform(images.reshape(5, 3, 4, 3))


def test_other_flat_width_raises(images):
    flattener = ImageFlattener().fit(images)
    with pytest.raises(ValueError, match="X has 35 features.*expecting 36"):
        flattener.transform(images.reshape(5, -1)[:, :35])


@pytest.mark.parametrize(
    "value, match",
    [
        (-1.0, "1 values below 0 and 0 above max_value=255.0"),
        (256.0, "0 values below 0 and 1 above max_value=255.0"),
        (np.nan, "1 NaN and 0 infinite"),
        (np.inf, "0 NaN and 1 infinite"),
    ],
)
def test_bad_pixel_values_are_counted_not_clipped(value, match, images):
    X = images.astype(np.float64)
    flattener = ImageFlattener().fit(X)
    X[0, 0, 0, 0] = value
    with pytest.raises(ValueError, match=match):
        flattener.transform(X)
    with pytest.raises(ValueError, match=match):
        ImageFlattener().fit(X)


def test_max_value_sets_the_scale(rng):
    X = rng.integers(0, 1024, size=(4, 2, 2))
    out = ImageFlattener(max_value=1023).fit_transform(X)
    assert_allclose(out, X.reshape(4, -1) / 1023)


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.zeros((3, 2, 2), dtype=bool), TypeError, "real pixel values"),
        (np.zeros((3, 2, 2), dtype=complex), ValueError, "Complex"),
        (np.zeros(4), ValueError, "Expected 2D array"),
        (np.array([["a", "b"]]), ValueError, "could not convert|dtype"),
        (np.zeros((0, 2, 2)), ValueError, "0 sample"),
        (np.zeros((2, 2, 2, 2, 2)), ValueError, "5 dimensions.*expects images"),
    ],
)
def test_unusable_input_raises(X, error, match):
    with pytest.raises(error, match=match):
        ImageFlattener().fit(X)


def test_inverse_transform_round_trip(images):
    flattener = ImageFlattener().fit(images)
    back = flattener.inverse_transform(flattener.transform(images))
    assert back.shape == images.shape
    assert_array_equal(np.rint(back).astype(np.uint8), images)


def test_inverse_transform_checks_width(images):
    flattener = ImageFlattener().fit(images)
    with pytest.raises(ValueError, match="X has 3 features.*expecting 36"):
        flattener.inverse_transform(np.zeros((2, 3)))


def test_feature_names_name_each_pixel(images):
    names = ImageFlattener().fit(images).get_feature_names_out()
    assert names.shape == (36,)
    assert list(names[:4]) == [
        "pixel_r0_c0_ch0",
        "pixel_r0_c0_ch1",
        "pixel_r0_c0_ch2",
        "pixel_r0_c1_ch0",
    ]
    assert names[-1] == "pixel_r3_c2_ch2"
    gray = ImageFlattener().fit(images[..., 0]).get_feature_names_out()
    assert list(gray[:2]) == ["pixel_r0_c0", "pixel_r0_c1"]


def test_feature_names_for_flat_input(rng):
    X = rng.random((3, 2))
    flattener = ImageFlattener(max_value=1.0).fit(X)
    assert list(flattener.get_feature_names_out()) == ["x0", "x1"]
    assert list(flattener.get_feature_names_out(["a", "b"])) == ["a", "b"]
    with pytest.raises(ValueError, match="input_features is only accepted"):
        ImageFlattener().fit(rng.random((3, 2, 2))).get_feature_names_out(["a"])


def test_set_output_pandas(images):
    pd = pytest.importorskip("pandas")
    out = ImageFlattener().set_output(transform="pandas").fit_transform(images)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns[:2]) == ["pixel_r0_c0_ch0", "pixel_r0_c0_ch1"]
    df = pd.DataFrame(images.reshape(5, -1), columns=[f"p{i}" for i in range(36)])
    flattener = ImageFlattener().fit(df)
    assert list(flattener.feature_names_in_[:2]) == ["p0", "p1"]
    assert list(flattener.get_feature_names_out()[:2]) == ["p0", "p1"]


def test_unfitted_raises(images):
    with pytest.raises(NotFittedError):
        ImageFlattener().transform(images)


def test_in_a_pipeline_with_the_neuron(images):
    y = np.array([0, 1, 0, 1, 1])
    model = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier(max_iter=10))
    model.fit(images, y)
    assert model.predict(images).shape == (5,)
    assert model[-1].n_features_in_ == 36


# -- one check, in blocks, fused with the division (issue 12) -----------------


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of one or two rows, so that every array spans many of them."""
    monkeypatch.setattr(_preprocessing, "_BLOCK_BYTES", 100)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("blocks", ["one", "many"])
def test_output_is_bit_identical_to_dividing(dtype, blocks, rng, monkeypatch):
    if blocks == "many":
        monkeypatch.setattr(_preprocessing, "_BLOCK_BYTES", 100)
    images = rng.integers(0, 256, size=(7, 4, 3, 3)).astype(dtype)
    images[0, 0, 0, 0], images[1, 0, 0, 0] = 0, 255
    expected = images.reshape(7, -1) / (
        np.float32(255) if dtype == np.float32 else 255.0
    )
    flattener = ImageFlattener()
    out = flattener.fit_transform(images)
    assert out.dtype == (np.float32 if dtype == np.float32 else np.float64)
    assert out.flags.c_contiguous
    assert_array_equal(out, expected, strict=True)
    assert_array_equal(flattener.transform(images), expected, strict=True)


def test_uint8_divided_by_255_with_two_products_is_the_division():
    # All 256 values, as C and Fortran blocks: the identity the fast path uses.
    values = np.arange(256, dtype=np.uint8)
    assert _preprocessing._BY_255_IS_EXACT
    for pixels in (values.reshape(16, 16), np.asfortranarray(values.reshape(16, 16))):
        for cast_first in (False, True):
            out = np.empty(pixels.shape)
            _preprocessing._divide_by_255(pixels, out, cast_first=cast_first)
            assert_array_equal(out, pixels / 255.0, strict=True)
    # A single product by 1/255 would not do: the second one is needed.
    assert not np.array_equal(values * (1 / 255), values / 255.0)


@pytest.mark.parametrize("max_value", [255, 255.0, np.float32(255), np.int64(255)])
def test_uint8_fast_division_is_used_for_255_only(max_value, rng, monkeypatch):
    calls = []
    divide = _preprocessing._divide_by_255

    def counting(pixels, out, **kwargs):
        calls.append(pixels.shape)
        divide(pixels, out, **kwargs)

    monkeypatch.setattr(_preprocessing, "_divide_by_255", counting)
    images = rng.integers(0, 256, size=(6, 4, 3, 3), dtype=np.uint8)
    out = ImageFlattener(max_value=max_value).fit_transform(images)
    assert_array_equal(out, images.reshape(6, -1) / 255.0, strict=True)
    assert calls
    calls.clear()
    other = ImageFlattener(max_value=256).fit_transform(images)
    assert_array_equal(other, images.reshape(6, -1) / 256.0, strict=True)
    ImageFlattener().fit_transform(images.astype(np.uint16))
    ImageFlattener().fit_transform(images.astype(np.float32))
    assert not calls


class _LyingNumber(float):
    """A number that says it equals anything, 255 included, but is 256."""

    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


def test_fast_division_goes_by_the_divisor_used_not_by_equality(rng):
    images = rng.integers(0, 256, size=(6, 4, 3, 3), dtype=np.uint8)
    max_value = _LyingNumber(256.0)
    assert max_value == 255
    out = ImageFlattener(max_value=max_value).fit_transform(images)
    assert_array_equal(out, images.reshape(6, -1) / 256.0, strict=True)


def test_division_is_kept_where_the_identity_failed(rng, monkeypatch):
    monkeypatch.setattr(_preprocessing, "_BY_255_IS_EXACT", False)
    monkeypatch.setattr(_preprocessing, "_divide_by_255", None)  # not called
    images = rng.integers(0, 256, size=(6, 4, 3, 3), dtype=np.uint8)
    out = ImageFlattener().fit_transform(images)
    assert_array_equal(out, images.reshape(6, -1) / 255.0, strict=True)


def test_cat_images_as_float32_and_float64_scale_exactly(catvnoncat):
    X_train = catvnoncat[0]
    for dtype in (np.float32, np.float64):
        images = X_train.astype(dtype)
        assert_array_equal(
            ImageFlattener().fit_transform(images),
            images.reshape(209, -1) / dtype(255),
            strict=True,
        )


def _count_range_checks(monkeypatch):
    calls = []

    def counting(block, max_value):
        calls.append(len(block))
        return in_range(block, max_value)

    in_range = _preprocessing._in_range
    monkeypatch.setattr(_preprocessing, "_in_range", counting)
    return calls


@pytest.mark.parametrize("method", ["fit", "fit_transform", "transform"])
def test_float_pixels_are_checked_once_per_call(
    method, images, small_blocks, monkeypatch
):
    X = images.astype(np.float64)
    flattener = ImageFlattener().fit(X)
    calls = _count_range_checks(monkeypatch)
    getattr(flattener, method)(X)
    assert sum(calls) == len(X)  # every row once, in more than one block
    assert len(calls) > 1


@pytest.mark.parametrize("method", ["fit", "fit_transform", "transform"])
def test_uint8_pixels_are_not_range_checked(method, images, monkeypatch):
    flattener = ImageFlattener().fit(images)
    calls = _count_range_checks(monkeypatch)
    getattr(flattener, method)(images)
    assert calls == []


def test_uint8_is_checked_when_max_value_is_below_255(images):
    images = images.copy()
    images[:] = 10
    images[2, 1, 1, 1] = 201
    with pytest.raises(ValueError, match="0 values below 0 and 1 above max_value=200"):
        ImageFlattener(max_value=200).fit_transform(images)
    flattener = ImageFlattener(max_value=201).fit(images)
    with pytest.raises(ValueError, match="1 above max_value=200"):
        ImageFlattener(max_value=200).fit(images)
    assert_array_equal(flattener.transform(images), images.reshape(5, -1) / 201)


@pytest.mark.parametrize(
    "dtype, value, match",
    [
        (np.float64, -np.inf, "0 NaN and 1 infinite"),
        (np.float32, np.nan, "1 NaN and 0 infinite"),
        (np.float32, 255.5, "0 values below 0 and 1 above max_value=255.0"),
        (np.int8, -3, "Negative values.*1 values below 0 and 0 above"),
        (np.int64, 300, "Values above max_value.*0 values below 0 and 1 above"),
        (np.uint16, 256, "0 values below 0 and 1 above max_value=255.0"),
    ],
)
@pytest.mark.parametrize("row", [0, 4])
def test_bad_value_in_any_block_is_found(dtype, value, match, row, rng, small_blocks):
    X = rng.integers(0, 100, size=(5, 4, 3, 3)).astype(dtype)
    X[row, 3, 2, 2] = value
    for call in (ImageFlattener().fit, ImageFlattener().fit_transform):
        with pytest.raises(ValueError, match=match):
            call(X)
    fitted = ImageFlattener().fit(X[:1] if row else X[1:])
    with pytest.raises(ValueError, match=match):
        fitted.transform(X)


def test_fit_transform_equals_fit_then_transform(images):
    one = ImageFlattener()
    out = one.fit_transform(images)
    two = ImageFlattener().fit(images)
    assert one.image_shape_ == two.image_shape_ == (4, 3, 3)
    assert one.n_features_in_ == two.n_features_in_ == 36
    assert_array_equal(out, two.transform(images), strict=True)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_no_temporary_of_the_size_of_the_images(dtype, rng):
    """fit allocates nothing of the images' size; transform only its output."""
    images = rng.integers(0, 256, size=(100, 64, 64, 3)).astype(dtype)
    flattener = ImageFlattener().fit(images)
    out_bytes = images.size * (4 if dtype == np.float32 else 8)
    for call, limit in [
        (lambda: ImageFlattener().fit(images), images.nbytes // 16),
        (lambda: ImageFlattener().fit_transform(images), out_bytes * 1.02),
        (lambda: flattener.transform(images), out_bytes * 1.02),
    ]:
        tracemalloc.start()
        try:
            call()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak <= limit
