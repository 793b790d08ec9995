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
#
# What every Keras assignment's probes need (the notebook's names found with messages for
# students, models described as plain data) comes from the grader's kit, grader.kit.keras.
#
# Editions: the course's 2023 notebook builds an SS-VAE (ss_vae_loss_function, SS_VAE,
# ss_vae_train_step, ss_vae), its 2022, 2024 and 2025 notebooks a DB-VAE
# (debiasing_loss_function, DB_VAE, debiasing_train_step, dbvae); assignment.toml grades the
# one a notebook defines. A probe whose own name the notebook does not define says so as
# `NotDefined` (recorded as "undefined", as a direct call of a missing name is), which is how
# the grader tells the edition a notebook follows, and an optional question left undone.

import inspect

import numpy as np

from grader.child.dispatch import NotDefined
from grader.kit import keras as kit

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

    function = _required(namespace, "vae_loss_function")
    args = [tf.constant(np.asarray(a, dtype=np.float32)) for a in (x, x_recon, mu, logsigma)]
    result = function(*args) if kl_weight is None else function(*args, kl_weight=kl_weight)
    return kit.plain(result)


def ss_vae_loss_function(namespace, x, x_pred, y, y_logit, mu, logsigma):
    """The student's ss_vae_loss_function on float32 tensors: its three results."""
    return _loss_parts(namespace, "ss_vae_loss_function", (x, x_pred, y, y_logit, mu, logsigma))


def debiasing_loss_function(namespace, x, x_pred, y, y_logit, mu, logsigma):
    """The student's debiasing_loss_function (the DB-VAE editions' name) on float32 tensors:
    its results, (total_loss, classification_loss)."""
    return _loss_parts(namespace, "debiasing_loss_function", (x, x_pred, y, y_logit, mu, logsigma))


def _loss_parts(namespace, name, arrays):
    import tensorflow as tf

    function = _required(namespace, name)
    result = function(*[tf.constant(np.asarray(a, dtype=np.float32)) for a in arrays])
    if not isinstance(result, (tuple, list)):
        return {"kind": type(result).__name__, "parts": [kit.plain(result)]}
    return {"kind": type(result).__name__, "parts": [kit.plain(part) for part in result]}


def sampling(namespace, z_mean, z_logsigma, seed=0):
    """One call of the student's sampling on float32 tensors, TensorFlow seeded."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    function = _required(namespace, "sampling")
    z = function(tf.constant(np.asarray(z_mean, dtype=np.float32)),
                 tf.constant(np.asarray(z_logsigma, dtype=np.float32)))
    return kit.plain(z)


def SS_VAE(namespace, images, z, latent_dim, seed=0):
    """A fresh SS_VAE(latent_dim), seeded: what encode (given code), decode and calling the
    model return for ``images`` and the latent vectors ``z``, beside what they should give:
    the decoder's own images of ``z``, the decoding of encode's z_mean, and the decoding of
    sampling(z_mean, z_logsigma) drawn with the same seed as the call."""
    return _vae_model(namespace, "SS_VAE", images, z, latent_dim, seed)[0]


def DB_VAE(namespace, images, z, latent_dim, seed=0):
    """As SS_VAE, for the DB-VAE editions' DB_VAE, whose call samples z with its method
    ``reparameterize``: also what reparameterize(z_mean, z_logsigma) draws, beside what
    sampling draws with the same seed."""
    import keras

    out, model, z_mean, z_logsigma = _vae_model(namespace, "DB_VAE", images, z, latent_dim, seed)
    keras.utils.set_random_seed(seed + 1)
    out["reparameterize"] = kit.attempt("DB_VAE.reparameterize", lambda: kit.plain(
        model.reparameterize(z_mean, z_logsigma)))
    keras.utils.set_random_seed(seed + 1)
    out["sampled"] = kit.attempt("sampling", lambda: kit.plain(
        kit.function(namespace, "sampling")(z_mean, z_logsigma)))
    return out


def _vae_model(namespace, name, images, z, latent_dim, seed):
    """What a fresh ``name``(latent_dim) does (the probe's answer), the model, and encode's
    z_mean and z_logsigma of ``images``."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    model = _required(namespace, name)(latent_dim)
    x = tf.constant(_prepare(images))
    z = tf.constant(np.asarray(z, dtype=np.float32))
    out = {"is_model": isinstance(model, keras.Model)}
    out["encode"] = kit.parts(model.encode(x))
    y_logit, z_mean, z_logsigma = model.encode(x)  # given code: the reference's split
    out["decoder"] = kit.plain(model.decoder(z))
    out["decoded_mean"] = kit.plain(model.decoder(z_mean))
    out["decode"] = kit.attempt(f"{name}.decode", lambda: kit.plain(model.decode(z)))
    keras.utils.set_random_seed(seed + 1)
    out["call"] = kit.attempt(f"calling {name}", lambda: kit.parts(model(x)))
    keras.utils.set_random_seed(seed + 1)
    out["decoded_sample"] = kit.attempt("sampling", lambda: kit.plain(
        model.decoder(kit.function(namespace, "sampling")(z_mean, z_logsigma))))
    return out, model, z_mean, z_logsigma


def ss_vae_train_step(namespace, images, labels, latent_dim, seed=0):
    """The gradients the notebook's training step applies, for one batch, to a fresh
    SS_VAE(latent_dim), beside those of the total loss of the notebook's own
    ss_vae_loss_function on that model's outputs (same seed: the same sample z).

    The step is called undecorated (``python_function`` of a tf.function, run eagerly) with
    its globals ``ss_vae`` and ``optimizer`` swapped for the fresh model and a recorder of
    ``apply_gradients``, then restored: the trained ss_vae is left as it was."""
    return _train_step(namespace, ("ss_vae_train_step", "SS_VAE", "ss_vae", "ss_vae_loss_function"),
                       images, labels, latent_dim, seed)


def debiasing_train_step(namespace, images, labels, latent_dim, seed=0):
    """As ss_vae_train_step, for the DB-VAE editions: debiasing_train_step on a fresh
    DB_VAE(latent_dim) in place of the global ``dbvae``, beside the gradients of the total
    loss (the first value) of the notebook's debiasing_loss_function."""
    return _train_step(namespace, ("debiasing_train_step", "DB_VAE", "dbvae",
                                   "debiasing_loss_function"), images, labels, latent_dim, seed)


def _train_step(namespace, names, images, labels, latent_dim, seed):
    import keras
    import tensorflow as tf

    step_name, class_name, model_name, loss_name = names
    step = _required(namespace, step_name)
    step = getattr(step, "python_function", step)
    scope = getattr(step, "__globals__", namespace)
    keras.utils.set_random_seed(seed)
    model = kit.function(namespace, class_name)(latent_dim)
    x = tf.constant(_prepare(images))
    y = tf.constant(np.asarray(labels, dtype=np.float32).reshape(-1, 1))
    model(x)  # builds its variables before any tape watches them
    recorder = _Recorder()
    swapped = {model_name: model, "optimizer": recorder}
    with _swapped(scope, swapped):
        keras.utils.set_random_seed(seed + 1)
        step(x, y)
    keras.utils.set_random_seed(seed + 1)
    with tf.GradientTape() as tape:
        y_logit, z_mean, z_logsigma, x_recon = model(x)
        total = kit.function(namespace, loss_name)(x, x_recon, y, y_logit, z_mean, z_logsigma)[0]
    variables = model.trainable_variables
    expected = tape.gradient(total, variables)
    position = {id(variable): index for index, variable in enumerate(variables)}
    applied = [None] * len(variables)
    for gradient, variable in recorder.pairs:
        if id(variable) in position and gradient is not None:
            applied[position[id(variable)]] = kit.plain(gradient)
    return {"applied": applied, "calls": recorder.calls,
            "expected": [None if g is None else kit.plain(g) for g in expected]}


class _swapped:
    """Globals of the notebook replaced for the duration of a call, then restored (removed
    where the notebook had none)."""

    def __init__(self, scope, values):
        self.scope, self.values = scope, values
        self.saved = {}

    def __enter__(self):
        self.saved = {name: self.scope[name] for name in self.values if name in self.scope}
        self.scope.update(self.values)

    def __exit__(self, *exc):
        for name in self.values:
            self.scope.pop(name, None)
        self.scope.update(self.saved)
        return False


class _Recorder:
    """Stands in for the optimizer: keeps what ``apply_gradients`` receives, changes nothing."""

    def __init__(self):
        self.pairs, self.calls = [], 0

    def apply_gradients(self, grads_and_vars, *args, **kwargs):
        self.calls += 1
        self.pairs.extend(grads_and_vars)


def standard_classifier(namespace, images):
    """The trained standard_classifier's logits for ``images`` (one per image)."""
    model = kit.keras_model(kit.defined(namespace, "standard_classifier"), "standard_classifier")
    x = _prepare(images)
    return np.concatenate([kit.plain(model(x[i:i + CHUNK], training=False)).reshape(len(x[i:i + CHUNK]), -1)
                           for i in range(0, len(x), CHUNK)])


def ss_vae(namespace, images):
    """The trained ss_vae on ``images``: its face logits (``predict``) and, per image, the
    mean absolute difference between the image and ``decode(z_mean)`` (the reconstruction
    without sampling noise)."""
    return _trained_vae(namespace, "ss_vae", images)


def dbvae(namespace, images):
    """As ss_vae, for the DB-VAE editions' trained dbvae."""
    return _trained_vae(namespace, "dbvae", images)


def _trained_vae(namespace, name, images):
    import tensorflow as tf

    model = _required(namespace, name)
    x = _prepare(images)
    logits, errors = [], []
    for i in range(0, len(x), CHUNK):
        batch = tf.constant(x[i:i + CHUNK])
        logits.append(kit.plain(model.predict(batch)).reshape(len(batch), -1))
        encoded = model.encode(batch)
        recon = kit.plain(model.decode(encoded[1]))
        if recon.shape != batch.shape:
            raise ValueError(f"{name}.decode returned images of shape {recon.shape} for a batch of "
                             f"shape {tuple(batch.shape)}")
        errors.append(np.mean(np.abs(recon - x[i:i + CHUNK]), axis=(1, 2, 3)))
    return {"logits": np.concatenate(logits), "recon_error": np.concatenate(errors)}


def get_training_sample_probabilities(namespace, mu, **options):
    """The notebook's resampling weights of the faces whose latent means are ``mu``, in
    either signature the course has used:

    - ours, ``get_training_sample_probabilities(mu, bins=10, smoothing_fac=0.001)``;
    - the course's DB-VAE notebooks', ``(images, dbvae, bins=10, smoothing_fac=0.001)``, which
      finds mu itself with the notebook's ``get_latent_mu(images, dbvae)``: it gets as many
      blank images as mu has rows and a stand-in model whose ``encode(batch)`` returns the
      next rows of mu, in order; the notebook's global ``latent_dim`` (the loop bound of the
      course's code) is mu's width meanwhile, then restored."""
    function = _required(namespace, "get_training_sample_probabilities")
    mu = np.asarray(mu, dtype=np.float64)
    if not _takes_a_model(function):
        return kit.plain(function(mu, **options))
    scope = getattr(function, "__globals__", namespace)
    images = np.zeros((len(mu), 64, 64, 3), dtype=np.uint8)
    with _swapped(scope, {"latent_dim": mu.shape[1]}):
        return kit.plain(function(images, _LatentMeans(mu), **options))


def _takes_a_model(function):
    """Whether ``function`` needs two arguments (images, model), not one (mu)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    required = [p for p in parameters if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(required) >= 2


class _LatentMeans:
    """Stands in for a DB-VAE where only its latent means are wanted: ``encode(batch)``
    returns (logits, the next len(batch) rows of mu, zeros), as DB_VAE.encode does."""

    def __init__(self, mu):
        self.mu, self.next, self.latent_dim = mu, 0, mu.shape[1]

    def encode(self, batch):
        rows = self.mu[self.next:self.next + len(batch)]
        self.next += len(rows)
        return np.zeros((len(rows), 1)), rows.copy(), np.zeros_like(rows)


# --- helpers -----------------------------------------------------------------------------

def _prepare(images):
    """As the course's loader: BGR -> RGB, float32 in [0, 1]."""
    return (np.asarray(images)[..., ::-1] / 255.0).astype(np.float32)


def _required(namespace, name):
    """The notebook's ``name``: a probe named after it reports its absence as ``NotDefined``
    (the name is undefined, which an optional question or another edition may mean), a
    non-function as a TypeError."""
    if name not in namespace:
        raise NotDefined(name)
    return kit.function(namespace, name)
