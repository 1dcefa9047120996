"""Loading a model file, against the skops file it replaces.

A pipeline fitted on generated 64x64x3 images (the shape ``catneuron train``
saves) is written as a model file (``save_model``) and as a skops file; each is
loaded ``--repeats`` times: ``load_model`` with all its checks, against
``skops.io.load`` with its trusted types listed first (what ``predict`` did).
Then the import of ``skops.io`` in a fresh interpreter, which ``predict`` no
longer pays, against the import of ``sklearn_catneuron`` (which now includes
the model-file reader). Needs skops (the ``test`` extra) for the comparison.

    python benchmarks/bench_model_file.py [--repeats 20]
"""

import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _bench import (
    alternate,
    machine_report,
    median,
    parser,
    print_load,
    print_times,
    ratio_line,
)
from sklearn.pipeline import make_pipeline

from sklearn_catneuron import (
    ImageFlattener,
    SigmoidNeuronClassifier,
    load_model,
    save_model,
)


def import_seconds(module, runs=3):
    """Median wall time of ``python -c 'import module'`` minus a bare start."""

    def run(code):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    bare = median([run("pass") for _ in range(runs)])
    return median([run(f"import {module}") for _ in range(runs)]) - bare


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.set_defaults(repeats=20)
    args = p.parse_args(argv)
    machine_report()
    import skops.io

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(200, 64, 64, 3), dtype=np.uint8)
    labels = (images.mean(axis=(1, 2, 3)) > 127).astype(int)
    model = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier(max_iter=2000))
    model.fit(images, labels)
    folder = Path(tempfile.mkdtemp())
    new, old = folder / "model.cnm", folder / "model.skops"
    save_model(model, new)
    skops.io.dump(model, old)
    print(f"model file: {new.stat().st_size} bytes; skops file: {old.stat().st_size}")

    def load_skops():
        return skops.io.load(old, trusted=skops.io.get_untrusted_types(file=old))

    expected = model.predict_proba(images[:5])
    for loaded in (load_model(new), load_skops()):
        assert np.array_equal(loaded.predict_proba(images[:5]), expected)
    buffer = io.BytesIO()
    save_model(model, buffer)
    times = alternate(
        {
            "load_model": lambda: load_model(new),
            "skops.io.load (trusted listed)": load_skops,
            "save_model (to memory)": lambda: save_model(model, io.BytesIO()),
        },
        args.repeats,
    )
    print_times(times)
    ratio_line(
        "load_model faster than skops.io.load",
        median(times["skops.io.load (trusted listed)"]),
        median(times["load_model"]),
    )
    skops_import = import_seconds("skops.io")
    package_import = import_seconds("sklearn_catneuron")
    print(
        f"import skops.io: {skops_import:.2f} s; import sklearn_catneuron: "
        f"{package_import:.2f} s (fresh interpreters, bare start subtracted)"
    )
    print_load("load average at end")


if __name__ == "__main__":
    main()
