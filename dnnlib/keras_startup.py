"""What `import tensorflow` loads of Keras, trimmed: imported by dnnlib before TensorFlow, as the scripts do."""

import sys


class _NoScikitLearnForKeras:
    """`import tensorflow` loads Keras, whose scikit-learn wrappers (unused here) import scikit-learn when it is
    installed (it is, for the ls metric): 1.5-2 s more at every start. This import finder fails that one import,
    made while Keras's module keras.src.wrappers.fixes runs; every other import of sklearn is left alone."""

    def find_spec(self, name, path=None, target=None):
        keras_fixes = sys.modules.get('keras.src.wrappers.fixes')
        if name == 'sklearn' and keras_fixes is not None and 'sklearn' not in vars(keras_fixes):
            raise ModuleNotFoundError('scikit-learn is not loaded for Keras (see dnnlib/keras_startup.py)', name=name)
        return None


if 'tensorflow' not in sys.modules:  # Has an effect only where TensorFlow is imported after dnnlib.
    sys.meta_path.insert(0, _NoScikitLearnForKeras())
