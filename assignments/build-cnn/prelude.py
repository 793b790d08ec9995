# build-cnn prelude: run in the notebook's process before its first cell (instructor code).
#
# 1. The grading profile (grader/child/profile.py), so the course's notebook, which
#    hard-codes EPOCHS = 5, BATCH_SIZE = 64 and a GradientTape loop over all 60,000
#    training images, grades in bounded time without a `parameters` cell: TensorFlow on one
#    thread (the grader runs one notebook per core), Python/numpy/TensorFlow seeded (a
#    regrade trains the same weights), every Model.fit capped at MAX_EPOCHS epochs of at
#    most MAX_STEPS_PER_EPOCH batches, every tqdm loop at MAX_LOOP_ITERATIONS items. The
#    thresholds in checks.py are declared for this capped run; what was capped is shown to
#    the student beside the accuracies.
# 2. The course's `mitdeeplearning` package offline: the grader's stand-in, provided under
#    ~/.grader-shims ([[provide]]), importable unless a real package is installed.
# 3. Offline MNIST: the grader puts its dataset at ~/.keras/datasets/mnist.npz (data.py),
#    where `tf.keras.datasets.mnist.load_data()` looks first. Keras checks that file
#    against the sha256 of the official download and, on a mismatch, deletes it and
#    downloads again. The grader's file is never the official one (it holds the notebook's
#    split), so for that one file the hash check is skipped. Nothing is downloaded.
# 4. A private registry of the models passed through Model.fit and of what each
#    Model.evaluate returned, held by a module of its own (never in the notebook's
#    namespace): the course rebinds `cnn_model` in its last cell, so the probes find "the
#    CNN trained with fit" and "the model whose evaluate produced test_acc" here
#    (probes.fitted_cnn, probes.evaluations). The grader's own training (a probe) stops
#    the recording first, so only the notebook's calls are in it.
#
# Every name defined here starts with `_grader` and is deleted at the end, so the
# notebook's namespace gets nothing but what the cells define.


def _grader_setup():
    import os
    import sys
    import types

    import keras
    import keras.src.datasets.mnist as mnist_module
    from keras.src.backend import config as keras_config

    from grader.child import profile

    # keep equal to the profile in tests/test_build_cnn.py and the thresholds in checks.py
    profile.apply(max_epochs=1, max_steps_per_epoch=400, max_loop_iterations=1000, seed=0,
                  threads=1)
    profile.use_stand_ins(os.path.expanduser("~/.grader-shims"))

    download = mnist_module.get_file
    provided = os.path.join(keras_config.keras_home(), "datasets", "mnist.npz")

    def get_file(fname=None, origin=None, *args, file_hash=None, **kwargs):
        if fname == "mnist.npz" and os.path.isfile(provided):
            file_hash = None  # the grader's own dataset, not the official download
        return download(fname, origin, *args, file_hash=file_hash, **kwargs)

    mnist_module.get_file = get_file

    registry = types.ModuleType("grader_build_cnn_registry", "Models seen by fit and evaluate.")
    registry.fitted = []  # models, in the order they were first trained with fit
    registry.evaluations = []  # (model, what evaluate returned), in call order
    registry.recording = True  # set to False by the probes before they train anything
    sys.modules[registry.__name__] = registry
    depth = [0]  # fit may call evaluate (validation data): only the notebook's own calls count

    def recorded(method, record):
        def wrapper(self, *args, **kwargs):
            depth[0] += 1
            try:
                result = method(self, *args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0 and registry.recording:
                record(self, result)
            return result

        wrapper.__doc__, wrapper.__name__ = method.__doc__, method.__name__
        return wrapper

    def record_fit(model, _history):
        if not any(model is seen for seen in registry.fitted):
            registry.fitted.append(model)

    def record_evaluate(model, returned):
        registry.evaluations.append((model, returned))

    keras.Model.fit = recorded(keras.Model.fit, record_fit)
    keras.Model.evaluate = recorded(keras.Model.evaluate, record_evaluate)


_grader_setup()
del _grader_setup
