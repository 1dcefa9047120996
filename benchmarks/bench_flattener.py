"""Benchmark 7: ImageFlattener's pixel checks and scaling, old against new.

The old implementation (a copy kept below as the baseline: the range checked
with four full-size boolean temporaries, twice per ``fit_transform``, uint8
included; then one ``np.divide``) against the package's (one check, skipped for
uint8, min and max in cache-sized blocks fused with the division into one
preallocated output). Both run in this process, alternating, on the same
images: uint8, float32 and float64, for ``fit_transform``, ``transform`` and
``fit``. Peak memory (tracemalloc) is given against one float64 copy of the
flattened images; outputs are checked bit-identical.

    python benchmarks/bench_flattener.py [--repeats 7] [--n-images 2000]
"""

import tracemalloc

import numpy as np
from _bench import alternate, machine_report, median, parser, print_load
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from sklearn_catneuron import ImageFlattener

# -- the baseline: ImageFlattener before the change, verbatim where it matters --


def _old_check_pixel_values(X, max_value, where=""):
    n_nan = int(np.count_nonzero(np.isnan(X))) if X.dtype.kind == "f" else 0
    n_inf = int(np.count_nonzero(np.isinf(X))) if X.dtype.kind == "f" else 0
    if n_nan or n_inf:
        raise ValueError(f"X contains {n_nan} NaN and {n_inf} infinite values")
    n_low = int(np.count_nonzero(X < 0))
    n_high = int(np.count_nonzero(X > max_value))
    if n_low or n_high:
        raise ValueError(f"{n_low} values below 0 and {n_high} above max_value")


class OldImageFlattener(ImageFlattener):
    """The previous fit / transform / fit_transform (no Dask, no names)."""

    def fit(self, X, y=None):
        self._old_flatten(X, reset=True)
        return self

    def fit_transform(self, X, y=None):
        return TransformerMixin.fit_transform(self, X, y)

    def transform(self, X):
        check_is_fitted(self)
        X = self._old_flatten(X, reset=False)
        dtype = np.float32 if X.dtype == np.float32 else np.float64
        return np.divide(X, self.max_value, dtype=dtype)

    def _old_flatten(self, X, *, reset):
        if getattr(X, "ndim", None) != 2:
            X = check_array(X, allow_nd=True, dtype="numeric", ensure_all_finite=False)
        if X.ndim > 2:
            image_shape = tuple(X.shape[1:])
            X = X.reshape(X.shape[0], -1)
        else:
            image_shape = None
        X = validate_data(
            self, X, reset=reset, dtype="numeric", ensure_all_finite=False
        )
        if reset:
            self.image_shape_ = image_shape or (X.shape[1],)
        _old_check_pixel_values(X, self.max_value)
        return X


# -- measurements -------------------------------------------------------------


def peak_ratio(fn, x_bytes):
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / x_bytes
    finally:
        tracemalloc.stop()


def contenders(images, old, new):
    """{method: (old call, new call)} on ``images``; old and new are fitted."""
    return {
        "fit_transform": (
            lambda: OldImageFlattener().fit_transform(images),
            lambda: ImageFlattener().fit_transform(images),
        ),
        "transform": (lambda: old.transform(images), lambda: new.transform(images)),
        "fit": (
            lambda: OldImageFlattener().fit(images),
            lambda: ImageFlattener().fit(images),
        ),
    }


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n-images", type=int, default=2000)
    p.set_defaults(repeats=7)
    args = p.parse_args(argv)
    machine_report()
    n = args.n_images
    rng = np.random.default_rng(0)
    images8 = rng.integers(0, 256, size=(n, 64, 64, 3), dtype=np.uint8)
    x_bytes = images8.size * 8
    print(f"{n} generated images of 64x64x3; one float64 copy: {x_bytes / 1e6:.0f} MB")
    print(
        f"{'input':<8} {'method':<14} {'old s':>8} {'new s':>8} {'old/new':>8} "
        f"{'old peak/X':>10} {'new peak/X':>10}"
    )
    for dtype in (np.uint8, np.float32, np.float64):
        images = images8.astype(dtype)
        old, new = OldImageFlattener().fit(images), ImageFlattener().fit(images)
        expected = images.reshape(n, -1) / (
            np.float32(255) if dtype == np.float32 else 255.0
        )
        for name in ("fit_transform", "transform"):
            for flattener in (old, new):
                out = getattr(flattener, name)(images)
                assert out.dtype == expected.dtype
                assert np.array_equal(out, expected), "outputs differ"
        for name, (run_old, run_new) in contenders(images, old, new).items():
            times = alternate({"old": run_old, "new": run_new}, args.repeats)
            t_old, t_new = median(times["old"]), median(times["new"])
            print(
                f"{np.dtype(dtype).name:<8} {name:<14} {t_old:>8.4f} {t_new:>8.4f} "
                f"{t_old / t_new:>7.1f}x {peak_ratio(run_old, x_bytes):>10.3f} "
                f"{peak_ratio(run_new, x_bytes):>10.3f}"
            )
    print(
        "old/new: how many times faster the new code is (medians of "
        f"{args.repeats} alternating rounds); peaks against one float64 copy of X."
    )
    print_load("load average at end")


if __name__ == "__main__":
    main()
