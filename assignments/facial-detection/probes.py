# facial-detection probes: run in the notebook's process after its last cell (instructor code).
#
# Each probe turns what the notebook defined (Keras models, TensorFlow functions) into plain
# data for checks.py: output arrays, losses, samples, images. Images arrive as uint8
# (n, 64, 64, 3) arrays with BGR channels, exactly as train_face.h5 stores them, and are
# prepared as the course's loader prepares a batch: channels flipped to RGB, float32 in
# [0, 1]. Labels of hidden images never come here.
#
# A probe's name is what a student reads when it fails ("sampling is not implemented yet",
# "ss_vae raised ValueError: ..."), so probes are named after the notebook's own names. No
# answers here: this file is visible to the notebook's process.

import numpy as np

#: Images per forward pass of a trained model (the student's `predict` takes no batch size).
CHUNK = 100


def grading_profile(namespace):
    """What the grading profile (prelude.py) capped in this run, one sentence each."""
    from grader.child import profile

    return profile.caps()


def vae_loss_function(namespace, x, x_recon, mu, logsigma, kl_weight=None):
    """The student's vae_loss_function on float32 tensors (kl_weight left to its default
    when None)."""
    import tensorflow as tf

    function = _function(namespace, "vae_loss_function")
    args = [tf.constant(np.asarray(a, dtype=np.float32)) for a in (x, x_recon, mu, logsigma)]
    result = function(*args) if kl_weight is None else function(*args, kl_weight=kl_weight)
    return _array(result)


def ss_vae_loss_function(namespace, x, x_pred, y, y_logit, mu, logsigma):
    """The student's ss_vae_loss_function on float32 tensors: its three results."""
    import tensorflow as tf

    function = _function(namespace, "ss_vae_loss_function")
    args = [tf.constant(np.asarray(a, dtype=np.float32))
            for a in (x, x_pred, y, y_logit, mu, logsigma)]
    result = function(*args)
    if not isinstance(result, (tuple, list)):
        return {"kind": type(result).__name__, "parts": [_array(result)]}
    return {"kind": type(result).__name__, "parts": [_array(part) for part in result]}


def sampling(namespace, z_mean, z_logsigma, seed=0):
    """One call of the student's sampling on float32 tensors, TensorFlow seeded."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    function = _function(namespace, "sampling")
    z = function(tf.constant(np.asarray(z_mean, dtype=np.float32)),
                 tf.constant(np.asarray(z_logsigma, dtype=np.float32)))
    return _array(z)


def SS_VAE(namespace, images, z, latent_dim, seed=0):
    """A fresh SS_VAE(latent_dim), seeded: what encode (given code), decode and calling the
    model return for ``images`` and the latent vectors ``z``, beside what they should give:
    the decoder's own images of ``z``, the decoding of encode's z_mean, and the decoding of
    sampling(z_mean, z_logsigma) drawn with the same seed as the call."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    model = _function(namespace, "SS_VAE")(latent_dim)
    x = tf.constant(_prepare(images))
    z = tf.constant(np.asarray(z, dtype=np.float32))
    out = {"is_model": isinstance(model, keras.Model)}
    out["encode"] = _parts(model.encode(x))
    y_logit, z_mean, z_logsigma = model.encode(x)  # given code: the reference's split
    out["decoder"] = _array(model.decoder(z))
    out["decoded_mean"] = _array(model.decoder(z_mean))
    out["decode"] = _attempt("SS_VAE.decode", lambda: _array(model.decode(z)))
    keras.utils.set_random_seed(seed + 1)
    out["call"] = _attempt("calling SS_VAE", lambda: _parts(model(x)))
    keras.utils.set_random_seed(seed + 1)
    out["decoded_sample"] = _attempt("sampling", lambda: _array(
        model.decoder(_function(namespace, "sampling")(z_mean, z_logsigma))))
    return out


def ss_vae_train_step(namespace, images, labels, latent_dim, seed=0):
    """The gradients the notebook's training step applies, for one batch, to a fresh
    SS_VAE(latent_dim), beside those of the total loss of the notebook's own
    ss_vae_loss_function on that model's outputs (same seed: the same sample z).

    The step is called undecorated (``python_function`` of a tf.function, run eagerly) with
    its globals ``ss_vae`` and ``optimizer`` swapped for the fresh model and a recorder of
    ``apply_gradients``, then restored: the trained ss_vae is left as it was."""
    import keras
    import tensorflow as tf

    step = _function(namespace, "ss_vae_train_step")
    step = getattr(step, "python_function", step)
    scope = getattr(step, "__globals__", namespace)
    keras.utils.set_random_seed(seed)
    model = _function(namespace, "SS_VAE")(latent_dim)
    x = tf.constant(_prepare(images))
    y = tf.constant(np.asarray(labels, dtype=np.float32).reshape(-1, 1))
    model(x)  # builds its variables before any tape watches them
    recorder = _Recorder()
    saved = {name: scope[name] for name in ("ss_vae", "optimizer") if name in scope}
    try:
        scope["ss_vae"], scope["optimizer"] = model, recorder
        keras.utils.set_random_seed(seed + 1)
        step(x, y)
    finally:
        for name in ("ss_vae", "optimizer"):
            scope.pop(name, None)
        scope.update(saved)
    keras.utils.set_random_seed(seed + 1)
    with tf.GradientTape() as tape:
        y_logit, z_mean, z_logsigma, x_recon = model(x)
        total = _function(namespace, "ss_vae_loss_function")(
            x, x_recon, y, y_logit, z_mean, z_logsigma)[0]
    variables = model.trainable_variables
    expected = tape.gradient(total, variables)
    position = {id(variable): index for index, variable in enumerate(variables)}
    applied = [None] * len(variables)
    for gradient, variable in recorder.pairs:
        if id(variable) in position and gradient is not None:
            applied[position[id(variable)]] = _array(gradient)
    return {"applied": applied, "calls": recorder.calls,
            "expected": [None if g is None else _array(g) for g in expected]}


class _Recorder:
    """Stands in for the optimizer: keeps what ``apply_gradients`` receives, changes nothing."""

    def __init__(self):
        self.pairs, self.calls = [], 0

    def apply_gradients(self, grads_and_vars, *args, **kwargs):
        self.calls += 1
        self.pairs.extend(grads_and_vars)


def standard_classifier(namespace, images):
    """The trained standard_classifier's logits for ``images`` (one per image)."""
    model = _model(_defined(namespace, "standard_classifier"), "standard_classifier")
    x = _prepare(images)
    return np.concatenate([_array(model(x[i:i + CHUNK], training=False)).reshape(len(x[i:i + CHUNK]), -1)
                           for i in range(0, len(x), CHUNK)])


def ss_vae(namespace, images):
    """The trained ss_vae on ``images``: its face logits (``predict``) and, per image, the
    mean absolute difference between the image and ``decode(z_mean)`` (the reconstruction
    without sampling noise)."""
    import tensorflow as tf

    model = _defined(namespace, "ss_vae")
    x = _prepare(images)
    logits, errors = [], []
    for i in range(0, len(x), CHUNK):
        batch = tf.constant(x[i:i + CHUNK])
        logits.append(_array(model.predict(batch)).reshape(len(batch), -1))
        encoded = model.encode(batch)
        recon = _array(model.decode(encoded[1]))
        if recon.shape != batch.shape:
            raise ValueError(f"ss_vae.decode returned images of shape {recon.shape} for a batch of "
                             f"shape {tuple(batch.shape)}")
        errors.append(np.mean(np.abs(recon - x[i:i + CHUNK]), axis=(1, 2, 3)))
    return {"logits": np.concatenate(logits), "recon_error": np.concatenate(errors)}


# --- helpers -----------------------------------------------------------------------------

def _prepare(images):
    """As the course's loader: BGR -> RGB, float32 in [0, 1]."""
    return (np.asarray(images)[..., ::-1] / 255.0).astype(np.float32)


def _array(value):
    if value is None:
        return None
    return np.asarray(value, dtype=np.float32) if _numeric(value) else value


def _numeric(value):
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except Exception:  # noqa: BLE001 - ragged or not numbers: sent as it is (Unsupported)
        return False


def _attempt(what, compute):
    """``compute()``, or ``{"error": ...}`` saying how it failed: one part of a probe that
    fails (the student's decode, say) leaves the other parts' answers intact."""
    try:
        return compute()
    except NotImplementedError:
        return {"error": f"{what} is not implemented yet (it raised NotImplementedError)"}
    except Exception as error:  # noqa: BLE001 - student code: reported, not raised
        return {"error": f"{what} raised {type(error).__name__}: {error}"[:2000]}


def _parts(result):
    if isinstance(result, (tuple, list)):
        return [_array(part) for part in result]
    return [_array(result)]


def _defined(namespace, name):
    if name not in namespace:
        raise NameError(f"{name} is not defined (did the cell that defines it run without errors?)")
    return namespace[name]


def _function(namespace, name):
    value = _defined(namespace, name)
    if not callable(value):
        raise TypeError(f"{name} is not a function (it is a {type(value).__name__})")
    return value


def _model(value, what):
    import keras

    if value is None:
        raise TypeError(f"{what} is None, not a Keras model (a missing `return`?)")
    if not isinstance(value, keras.Model):
        raise TypeError(f"{what} is a {type(value).__name__}, not a Keras model")
    return value
