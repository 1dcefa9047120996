"""sklearn-catneuron: the "neural network from scratch" cat classifier, made real.

A single sigmoid neuron trained by full-batch gradient descent, as a
scikit-learn classifier, the image flattening step that feeds it, and model
files that hold the fitted pipeline without being able to run code.

The public names are loaded on first use (PEP 562), so ``import
sklearn_catneuron`` and the ``catneuron`` command start quickly; ``from
sklearn_catneuron import SigmoidNeuronClassifier`` works as usual.
"""

import importlib

__version__ = "0.1.0"

# Public name -> the private module that defines it.
_LAZY = {
    "CostCurveDisplay": "sklearn_catneuron._plotting",
    "ImageFlattener": "sklearn_catneuron._preprocessing",
    "ModelFileError": "sklearn_catneuron._model_file",
    "NeuronPipeline": "sklearn_catneuron._pipeline",
    "SigmoidNeuronClassifier": "sklearn_catneuron._neuron",
    "SigmoidNeuronClassifierCV": "sklearn_catneuron._neuron_cv",
    "load_model": "sklearn_catneuron._model_file",
    "make_neuron_pipeline": "sklearn_catneuron._pipeline",
    "plot_image_grid": "sklearn_catneuron._plotting",
    "save_model": "sklearn_catneuron._model_file",
}

__all__ = [
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


def __getattr__(name):
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(
            f"module 'sklearn_catneuron' has no attribute {name!r}"
        ) from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
