# facial-detection prelude: run in the notebook's process before its first cell (instructor code).
#
# 1. The grading profile (grader/child/profile.py), which needs no `parameters` cell: the
#    course's notebook hard-codes `num_epochs = 2` (the classifier) and `6` (the SS-VAE) and
#    trains in `for idx in tqdm(range(loader.get_train_size() // batch_size))` loops, so
#    every tqdm loop is cut at LOOP_CAP iterations (2 x 60 classifier steps, 6 x 60 SS-VAE
#    steps: 45-65 s a notebook on one core, under load 90-130 s; facial_detection_time.py),
#    `Model.fit` likewise; Python, numpy and TensorFlow are seeded (the loader draws its
#    batches with np.random), and TensorFlow gets one thread: the grader runs one notebook per
#    core (`--jobs`). Thresholds in checks.py are set for this capped run, and the feedback
#    says what was capped (the `grading_profile` probe).
# 2. The course's `import mitdeeplearning as mdl` works offline: the grader's stand-in
#    (grader/stand_ins/, provided under ~/.grader-shims) is put last on sys.path, so a really
#    installed package wins.
# 3. Offline data: the grader writes its training file to ~/.keras/datasets/train_face.h5
#    (see data.py and [[provide]]). The course's
#    `tf.keras.utils.get_file('train_face.h5', 'https://...')` gives no hash, so Keras finds
#    that file in its cache and downloads nothing. In case a notebook passes a hash (or
#    another Keras version checks one), `get_file` is wrapped: for that one file name, an
#    existing provided file is returned as it is.
#
# Every name defined here starts with `_grader` and is deleted at the end, so the
# notebook's namespace gets nothing but what the cells define.


def _grader_setup():
    import os

    from grader.child import profile

    loop_cap = 60  # LOOP_CAP: training steps per epoch of a tqdm loop
    home = os.path.expanduser("~")
    profile.use_stand_ins(os.path.join(home, ".grader-shims"))
    profile.apply(max_epochs=2, max_steps_per_epoch=loop_cap, max_loop_iterations=loop_cap,
                  seed=0, threads=1)

    import keras
    import tensorflow as tf

    provided = os.path.join(home, ".keras", "datasets", "train_face.h5")
    download = keras.utils.get_file

    def get_file(fname=None, origin=None, *args, **kwargs):
        if fname == "train_face.h5" and os.path.isfile(provided):
            return provided  # the grader's own dataset, never downloaded
        return download(fname, origin, *args, **kwargs)

    get_file.__doc__ = download.__doc__
    keras.utils.get_file = get_file
    tf.keras.utils.get_file = get_file


_grader_setup()
del _grader_setup
