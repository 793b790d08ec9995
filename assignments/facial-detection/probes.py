# facial-detection probes: run in the notebook's process after its last cell (instructor code).
#
# Each probe turns what the notebook defined (Keras models, TensorFlow functions) into plain
# data for checks.py: layer lists, output arrays, losses, samples. Images arrive as uint8
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


def make_standard_classifier(namespace, images, n_outputs=1):
    """Summary of make_standard_classifier(n_outputs): layers, output, parameter count."""
    import keras

    keras.utils.set_random_seed(0)
    build = _function(namespace, "make_standard_classifier")
    model = _model(build(n_outputs), f"make_standard_classifier({n_outputs})")
    return _summary(model, _prepare(images))


def make_face_decoder_network(namespace, latent):
    """Summary of make_face_decoder_network(): layers, output, parameter count."""
    import keras

    keras.utils.set_random_seed(0)
    model = _model(_function(namespace, "make_face_decoder_network")(),
                   "make_face_decoder_network()")
    return _summary(model, np.asarray(latent, dtype=np.float32))


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


def SS_VAE(namespace, images, latent_dim, seed=0):
    """A fresh SS_VAE(latent_dim), seeded: what encode, decode, call and predict return for
    ``images`` (decode on the encoder's means)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    cls = _function(namespace, "SS_VAE")
    model = cls(latent_dim)
    x = tf.constant(_prepare(images))
    out = {"is_model": isinstance(model, keras.Model)}
    out["encode"] = _parts(model.encode(x))
    means = out["encode"][1] if len(out["encode"]) > 1 else None
    z = np.asarray(means if isinstance(means, np.ndarray) and means.ndim == 2
                   else np.zeros((len(images), latent_dim)), dtype=np.float32)
    out["decode"] = _array(model.decode(tf.constant(z)))
    out["call"] = _parts(model(x))
    out["predict"] = _array(model.predict(x))
    return out


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


def _summary(model, x):
    output = np.asarray(model(x, training=False), dtype=np.float32)  # builds the model
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    shapes, y = [], x
    try:
        for layer in layers:
            y = layer(y, training=False) if "training" in _arguments(layer) else layer(y)
            shapes.append([int(d) for d in y.shape[1:]])
    except Exception:  # noqa: BLE001 - not a chain of layers
        shapes = [None] * len(layers)
    return {
        "layers": [_describe(layer, shape) for layer, shape in zip(layers, shapes, strict=True)],
        "output": output,
        "params": int(model.count_params()),
    }


def _arguments(layer):
    import inspect

    try:
        return inspect.signature(layer.call).parameters
    except (TypeError, ValueError):
        return {}


def _describe(layer, shape):
    config = layer.get_config()
    info = {"class": type(layer).__name__, "shape": shape, "params": int(layer.count_params())}
    activation = getattr(layer, "activation", None)
    if activation is not None:
        info["activation"] = str(getattr(activation, "__name__", activation))
    elif info["class"] in ("ReLU", "Softmax"):
        info["activation"] = info["class"].lower()
    for key in ("filters", "kernel_size", "strides", "padding", "units"):
        if key in config:
            value = config[key]
            info[key] = [int(v) for v in value] if isinstance(value, (list, tuple)) else value
    return info
