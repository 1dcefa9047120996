"""The public surface and what importing the package costs."""

import subprocess
import sys
from importlib.metadata import version

import sklearn_catneuron


def test_public_names():
    assert sorted(sklearn_catneuron.__all__) == [
        "CostCurveDisplay",
        "ImageFlattener",
        "ModelFileError",
        "NeuronPipeline",
        "SigmoidNeuronClassifier",
        "SigmoidNeuronClassifierCV",
        "__version__",
        "load_model",
        "make_neuron_pipeline",
        "plot_image_grid",
        "save_model",
    ]
    for name in sklearn_catneuron.__all__:
        assert getattr(sklearn_catneuron, name) is not None


def test_version_matches_installed_metadata():
    assert version("sklearn-catneuron") == sklearn_catneuron.__version__


def test_import_stays_light():
    heavy = ["matplotlib", "dask", "distributed", "tqdm", "PIL", "skops"]
    code = (
        "import sys, sklearn_catneuron; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_plotting_needs_no_scikit_learn():
    # catneuron train's plot process imports _plotting with matplotlib alone.
    code = (
        "import sys, sklearn_catneuron._plotting, matplotlib.figure; "
        "print('sklearn' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
