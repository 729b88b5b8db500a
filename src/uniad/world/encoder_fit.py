"""The rendered world's visual encoder: a random CLIP tower with a fitted projection.

Why not the recorded random CLIP alone (:func:`uniad.narrate.describe.encoder.demo_encoder`):
measured on 1,500 rendered frames and the pool's photos (64 px, the demo tower), a random
tower keeps the identity for a linear probe (100 %) but not for cosine matching (an
identity's two photos: cosine 0.989; two identities: 0.980 on average, up to 0.996;
frame-to-exemplar nearest identity right 12 % of the time, chance 8 %): every output
shares one large direction. Refinement (the recognised-character list) and narration's
nearest-exemplar cast both match by cosine, as they do on real CLIP features, so the world
needs an encoder whose cosines mean something. Fitting the whole tower by gradient took
200 s for 300 steps on this 2-core CPU; fitting only its last layer is a least-squares
solve over a few thousand rendered pictures (seconds).

So the tower (:data:`TOWER`, random weights of a seed) stays as it is and only its
``visual_projection`` is fitted, in closed form (ridge): a frame's embedding is pulled to
the sum of an identity, an action and an object direction (mutually orthogonal unit
vectors; the object's weighted 1.5, :data:`OBJECT_WEIGHT`), a cast photo's to its identity direction, an empty frame's to a "nobody"
direction, like the vector world's frames. The result is an ordinary
``CLIPVisionModelWithProjection`` folder (``config.json``, ``model.safetensors``,
``preprocessor_config.json``) that `uniad narrate --visual-encoder` loads with
:class:`~uniad.narrate.describe.encoder.CLIPVisionEncoder` (a model trained on the world
carries a copy in its checkpoint, so narration finds it alone); a seed gives the same encoder.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from uniad.narrate.describe.encoder import CLIPVisionEncoder, _processor_for
from uniad.world import render

log = logging.getLogger(__name__)

# One patch the size of the (resized) picture: a random tower's attention averages its
# patches, which loses where things are; with one patch the tower is a random nonlinear
# projection of the whole picture, and its width is how many random features the fitted
# projection can combine. Measured on 1,200 rendered frames (64-d embeddings):
# identity / action / object linear probes per frame, photo cosine same identity vs across,
# nearest exemplar = subject:
#   one 32-px patch, width 512: 100 / 82 / 75 %, 0.87 vs 0.16, 100 %
#   one 64-px patch, width 512: 100 / 78 / 64 %, 0.84 vs 0.13, 100 %  (and 1.6x slower)
#   16-px patches of 64 px, width 256, 2 layers: 97 / 40 / 27 %, 0.79 vs 0.26, 92 %
# and per event (the mean of its frames, probes fitted on the training movies, scored on
# the held-out ones), action / object:
#   width 512, MLP 1024: 93 / 88 %
#   width 1024, MLP 512: 96 / 96 %   (this one: 33 MB on disk)
#   width 2048, MLP 2048: 99 / 93 %   (121 MB)
TOWER = dict(hidden_size=1024, intermediate_size=512, num_hidden_layers=1,
             num_attention_heads=8, image_size=32, patch_size=32)
FIT_PICTURES = 3000
RIDGE = 1e-2
BYSTANDER_WEIGHT = 0.4
# The object's share of a frame's target. At 1.0 the fitted features gave the object 19 %
# of their variance (action 32 %, identity 40 %), and in 100 SmolLM2 steps one seed of two
# learned no objects (32 %); at 1.5 the shares are 31 / 26 / 32 % and both seeds learn
# actions and objects (96 / 95 % and 80 / 97 %), at the cost of a lower subject cosine
# (the world refines at 0.34 instead of 0.42).
OBJECT_WEIGHT = 1.5
# Pictures per forward pass, here and for the world's movies (the encoder this returns): the
# tower sees one patch per picture, so batching changes no feature (checked bit for bit),
# and on 1 core 1,024 frames encode in 1.25-1.32 s at 128-512 a batch against 1.69 s at
# narration's default of 32.
ENCODE_BATCH = 256


def _directions(count: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` orthonormal rows in ``dim`` dimensions (random rotation of the basis)."""
    if count > dim:
        raise ValueError(f"need feature_dim >= {count} for orthogonal concept directions")
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q[:count]


def _pictures(identities: int, count: int, rng: np.random.Generator):
    """Rendered training pictures and what each shows: (pixels, [(kind, index, weight)])."""
    images, parts = [], []
    for _ in range(count):
        u = rng.random()
        if u < 0.15:
            ident = int(rng.integers(identities))
            images.append(render.render_photo(ident, int(rng.integers(2)), rng))
            parts.append([("who", ident, 1.0)])
        elif u < 0.25:
            images.append(render.render_shot(render.Shot(render.background(rng)), rng))
            parts.append([("who", identities, 1.0)])
        else:
            subject = int(rng.integers(identities))
            action = int(rng.integers(len(render.RENDERED_ACTIONS)))
            obj = int(rng.integers(len(render.RENDERED_OBJECTS)))
            shown = [("who", subject, 1.0), ("action", action, 1.0), ("object", obj, OBJECT_WEIGHT)]
            bystander = None
            if rng.random() < 0.3:
                bystander = int((subject + rng.integers(1, identities)) % identities)
                shown.append(("who", bystander, BYSTANDER_WEIGHT))
            images.append(render.render_shot(render.Shot(
                background=render.background(rng), subject=subject,
                action=render.RENDERED_ACTIONS[action], obj=render.RENDERED_OBJECTS[obj],
                t=float(rng.random()), frame=int(rng.integers(30)), bystander=bystander,
                offset=render.jitter(rng)), rng))
            parts.append(shown)
    return np.stack(images), parts


def fit_encoder(out_dir: Path, identities: int, feature_dim: int, seed: int = 0,
                pictures: int = FIT_PICTURES) -> CLIPVisionEncoder:
    """Build the tower of ``seed``, fit its projection on ``pictures`` rendered pictures
    of an ``identities`` pool, save it into ``out_dir`` and load it back as narration does."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    started = time.perf_counter()
    torch.manual_seed(seed)
    model = CLIPVisionModelWithProjection(
        CLIPVisionConfig(**TOWER, projection_dim=feature_dim)).eval()
    processor = _processor_for(TOWER["image_size"])
    rng = np.random.default_rng([seed, 7])
    sizes = {"who": identities + 1, "action": len(render.RENDERED_ACTIONS),
             "object": len(render.RENDERED_OBJECTS)}
    basis = _directions(sum(sizes.values()), feature_dim, rng)
    offsets = {"who": 0, "action": sizes["who"], "object": sizes["who"] + sizes["action"]}
    images, parts = _pictures(identities, pictures, rng)
    targets = np.zeros((len(parts), feature_dim))
    for row, shown in enumerate(parts):
        for kind, index, weight in shown:
            targets[row] += weight * basis[offsets[kind] + index]
    with torch.no_grad():
        pooled = torch.cat([
            model.vision_model(pixel_values=processor(
                images=[render.to_image(p) for p in images[i:i + ENCODE_BATCH]],
                return_tensors="pt")["pixel_values"]).pooler_output
            for i in range(0, len(images), ENCODE_BATCH)]).double().numpy()
    gram = pooled.T @ pooled + RIDGE * len(pooled) * np.eye(pooled.shape[1])
    weight = np.linalg.solve(gram, pooled.T @ targets)  # (hidden, feature_dim)
    with torch.no_grad():
        model.visual_projection.weight.copy_(torch.from_numpy(weight.T).float())
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    residual = float(np.mean(np.sum((pooled @ weight - targets) ** 2, axis=1)))
    log.info("fitted the world's visual encoder on %d pictures in %.1f s (mean squared "
             "residual %.3f) -> %s", pictures, time.perf_counter() - started, residual, out_dir)
    return CLIPVisionEncoder(out_dir, batch_size=ENCODE_BATCH)
