"""The synthetic world drawn as pictures: identities, objects and actions a camera can see.

A rendered world (:mod:`uniad.world.synthetic` with ``render=True``) learns from pixels,
so everything an AD says must be visible in a small frame and survive a visual encoder:

- an **identity** is a standing figure with its own body colour, head colour and shape,
  body pattern and accessory (:func:`identity_look`); the same look in every movie, whatever
  name the movie gives it;
- an **object** is a coloured shape (:data:`OBJECT_LOOKS`);
- an **action** is what the figure and the object do over the clip: the arm's pose and
  the object's path, size or split (:func:`object_pose`), so that a single frame hints
  at it and the clip's frames tell it;
- a **bystander** is a smaller figure at the back; the **gaps** between ADs show the
  empty set (no figure, no object).

Frames are ``SIZE`` x ``SIZE`` RGB arrays drawn with PIL, with mild pixel noise drawn from a
generator the caller seeds, so a seed gives identical pictures. Cast photos are the
figure alone, in two variants (background shade and position), like two headshots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64  # pixels per side: the demo encoder's input size, so nothing is resampled away
PIXEL_NOISE = 6.0  # std of the per-pixel noise (0-255 scale): no two frames are identical

# Twelve well-separated body colours; heads use the same palette shifted, so a look is a
# pair of colours plus shape, pattern and accessory.
PALETTE = (
    (220, 40, 40), (40, 90, 220), (40, 170, 60), (240, 200, 30), (150, 50, 190),
    (20, 190, 200), (240, 120, 20), (120, 70, 30), (240, 110, 180), (30, 30, 30),
    (140, 200, 40), (250, 250, 250),
)
HEAD_SHAPES = ("circle", "square", "triangle", "diamond")
PATTERNS = ("plain", "stripes", "dots", "checks")
ACCESSORIES = ("none", "hat", "glasses", "scarf")

# Actions the rendered world uses (a subset of the vector world's grammar, each drawable)
# and their arm angle in degrees (0 = forward, 90 = up), 30 degrees apart so that a
# single frame's pose already tells them apart (angles 10-25 degrees apart left the
# encoder's per-event action probe at 93 %).
ACTION_ARMS = {
    "pulls": -75.0, "drops": -45.0, "opens": -15.0, "pushes": 15.0, "shakes": 45.0,
    "throws": 75.0, "lifts": 105.0, "examines": 135.0,
}
ARM_COLOUR = (250, 205, 160)  # one colour for every figure: the pose, not the look, is the action
RENDERED_ACTIONS = tuple(ACTION_ARMS)


@dataclass(frozen=True)
class ObjectLook:
    shape: str  # rect, trapezoid, tall, triangle, circle
    colour: tuple[int, int, int]
    width: int
    height: int


OBJECT_LOOKS = {
    "a cup": ObjectLook("trapezoid", (200, 30, 30), 10, 10),
    "a book": ObjectLook("rect", (30, 60, 200), 14, 10),
    "the box": ObjectLook("rect", (150, 100, 40), 13, 13),
    "a bottle": ObjectLook("tall", (30, 160, 60), 6, 16),
    "the lamp": ObjectLook("triangle", (250, 220, 40), 14, 12),
    "a letter": ObjectLook("rect", (255, 255, 255), 14, 8),
    "the phone": ObjectLook("tall", (20, 20, 20), 8, 14),
    "a flower": ObjectLook("circle", (230, 40, 200), 10, 10),
}
RENDERED_OBJECTS = tuple(OBJECT_LOOKS)
# Objects are drawn 1.4x their look's size: at the sizes above (6-16 px of 64) the
# encoder's per-event object probe on held-out movies was 92 %, and the object colours
# share hues with the figures' palette; at 1.4x it is 99 %.
OBJECT_SIZE = 1.4


@dataclass(frozen=True)
class Look:
    """How one identity appears."""

    body: tuple[int, int, int]
    head: tuple[int, int, int]
    head_shape: str
    pattern: str
    accessory: str


def identity_look(identity: int) -> Look:
    """The look of pool identity ``identity``: distinct for the first 48 (colour pairs,
    shapes, patterns and accessories vary at different periods)."""
    n = len(PALETTE)
    return Look(
        body=PALETTE[identity % n],
        head=PALETTE[(identity * 5 + 3) % n],
        head_shape=HEAD_SHAPES[identity % len(HEAD_SHAPES)],
        pattern=PATTERNS[(identity // len(HEAD_SHAPES)) % len(PATTERNS)],
        accessory=ACCESSORIES[(identity // 3) % len(ACCESSORIES)],
    )


def _shape(draw: ImageDraw.ImageDraw, kind: str, box: tuple[float, float, float, float],
           fill: tuple[int, int, int]) -> None:
    x0, y0, x1, y1 = box
    cx = (x0 + x1) / 2
    if kind == "circle":
        draw.ellipse(box, fill=fill)
    elif kind in ("square", "rect", "tall"):
        draw.rectangle(box, fill=fill)
    elif kind == "triangle":
        draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=fill)
    elif kind == "diamond":
        cy = (y0 + y1) / 2
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=fill)
    elif kind == "trapezoid":
        inset = (x1 - x0) / 4
        draw.polygon([(x0, y0), (x1, y0), (x1 - inset, y1), (x0 + inset, y1)], fill=fill)
    else:
        raise ValueError(f"unknown shape {kind!r}")


def _contrast(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    return (20, 20, 20) if sum(colour) > 380 else (235, 235, 235)


def draw_figure(draw: ImageDraw.ImageDraw, look: Look, x: float, y: float, scale: float = 1.0,
                arm_degrees: float | None = None) -> tuple[float, float]:
    """A figure whose feet stand at ``(x + 11*scale, y + 40*scale)``; returns its hand."""
    s = scale
    body = (x, y + 14 * s, x + 22 * s, y + 40 * s)
    draw.rectangle(body, fill=look.body)
    mark = _contrast(look.body)
    if look.pattern == "stripes":
        for k in range(3):
            top = y + (18 + 7 * k) * s
            draw.rectangle((x, top, x + 22 * s, top + 2 * s), fill=mark)
    elif look.pattern == "dots":
        for dx, dy in ((5, 19), (15, 19), (10, 27), (5, 34), (15, 34)):
            draw.ellipse((x + (dx - 2) * s, y + (dy - 2) * s, x + (dx + 2) * s, y + (dy + 2) * s),
                         fill=mark)
    elif look.pattern == "checks":
        for i in range(4):
            for j in range(5):
                if (i + j) % 2 == 0:
                    draw.rectangle((x + i * 5.5 * s, y + (14 + j * 5.2) * s,
                                    x + (i + 1) * 5.5 * s, y + (14 + (j + 1) * 5.2) * s),
                                   fill=mark)
    head = (x + 4 * s, y, x + 18 * s, y + 14 * s)
    _shape(draw, look.head_shape, head, look.head)
    if look.accessory == "hat":
        draw.rectangle((x + 2 * s, y - 3 * s, x + 20 * s, y + 1 * s), fill=(25, 25, 25))
    elif look.accessory == "glasses":
        draw.rectangle((x + 5 * s, y + 5 * s, x + 17 * s, y + 8 * s), fill=(10, 10, 10))
    elif look.accessory == "scarf":
        draw.rectangle((x, y + 13 * s, x + 22 * s, y + 17 * s), fill=(255, 255, 255))
    shoulder = (x + 20 * s, y + 18 * s)
    if arm_degrees is None:
        return shoulder
    angle = math.radians(arm_degrees)
    hand = (shoulder[0] + 22 * s * math.cos(angle), shoulder[1] - 22 * s * math.sin(angle))
    draw.line([shoulder, hand], fill=ARM_COLOUR, width=max(1, round(6 * s)))
    return hand


def object_pose(action: str, t: float, frame: int) -> tuple[float, float, float, bool]:
    """Where the object is, relative to its resting place, ``t`` in [0, 1] through the
    clip: ``(dx, dy, scale, split)``; ``split`` draws it opened in two halves."""
    if action == "opens":
        return 0.0, 0.0, 1.0, t > 0.25
    if action == "lifts":
        return 0.0, -22.0 * t, 1.0, False
    if action == "drops":
        return 0.0, -22.0 + 26.0 * t, 1.0, False
    if action == "pushes":
        return 14.0 * t, 0.0, 1.0, False
    if action == "pulls":
        return 8.0 - 16.0 * t, 0.0, 1.0, False
    if action == "throws":
        return 14.0 * t, -24.0 * math.sin(math.pi * t), 1.0, False
    if action == "shakes":
        return (5.0 if frame % 2 else -5.0), -6.0, 1.0, False
    if action == "examines":
        return -12.0, -26.0, 1.6, False
    raise ValueError(f"unknown action {action!r}")


def draw_object(draw: ImageDraw.ImageDraw, name: str, cx: float, cy: float, scale: float = 1.0,
                split: bool = False) -> None:
    """Object ``name`` centred at ``(cx, cy)``; ``split`` draws it opened in two halves."""
    look = OBJECT_LOOKS[name]
    w, h = look.width * scale * OBJECT_SIZE, look.height * scale * OBJECT_SIZE
    if look.shape == "circle":  # a flower: a stem under the bloom
        draw.line([(cx, cy), (cx, cy + h)], fill=(40, 150, 40), width=2)
    box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    if not split:
        _shape(draw, look.shape, box, look.colour)
        return
    gap = 3.0
    _shape(draw, look.shape, (box[0] - gap, box[1], cx - gap, box[3]), look.colour)
    _shape(draw, look.shape, (cx + gap, box[1] - 4, box[2] + gap, box[3] - 4), look.colour)


def _motion_marks(draw: ImageDraw.ImageDraw, action: str, t: float, cx: float, cy: float) -> None:
    """Comic-style marks that show movement in a still frame: streaks trailing a moving
    object, ticks on both sides of a shaken one."""
    if action == "shakes":
        for side in (-1, 1):
            x = cx + side * 10
            draw.line([(x, cy - 6), (x + side * 3, cy), (x, cy + 6)], fill=(255, 255, 255), width=2)
        return
    px, py, _, _ = object_pose(action, max(0.0, t - 0.15), 0)
    nx, ny, _, _ = object_pose(action, min(1.0, t + 0.15), 0)
    vx, vy = nx - px, ny - py
    norm = math.hypot(vx, vy)
    if norm < 1e-6:
        return
    ux, uy = vx / norm, vy / norm
    for k in (-4, 0, 4):  # three streaks behind the object, across its path
        sx, sy = cx - ux * 8 - uy * k, cy - uy * 8 + ux * k
        draw.line([(sx, sy), (sx - ux * 10, sy - uy * 10)], fill=(255, 255, 255), width=2)


@dataclass(frozen=True)
class Shot:
    """What one frame shows; ``subject`` None is an empty frame (a gap)."""

    background: tuple[int, int, int]
    subject: int | None = None
    action: str | None = None
    obj: str | None = None
    t: float = 0.0  # progress through the action's clip, 0..1
    frame: int = 0  # index within the clip (for oscillating actions)
    bystander: int | None = None
    offset: tuple[float, float] = (0.0, 0.0)  # camera jitter, pixels


def background(rng: np.random.Generator) -> tuple[int, int, int]:
    """A muted room colour (the set), drawn per movie or per training picture."""
    return tuple(int(c) for c in rng.integers(70, 150, size=3))


def jitter(rng: np.random.Generator) -> tuple[float, float]:
    """A small camera offset, pixels."""
    return float(rng.uniform(-2, 2)), float(rng.uniform(-2, 2))


def _finish(image: Image.Image, rng: np.random.Generator) -> np.ndarray:
    pixels = np.asarray(image, dtype=np.float32)
    pixels = pixels + rng.normal(0.0, PIXEL_NOISE, size=pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _floor(draw: ImageDraw.ImageDraw, background: tuple[int, int, int]) -> None:
    draw.rectangle((0, 52, SIZE, SIZE), fill=tuple(int(c * 0.7) for c in background))


def render_shot(shot: Shot, rng: np.random.Generator) -> np.ndarray:
    """One ``(SIZE, SIZE, 3)`` uint8 frame."""
    image = Image.new("RGB", (SIZE, SIZE), shot.background)
    draw = ImageDraw.Draw(image)
    _floor(draw, shot.background)
    ox, oy = shot.offset
    if shot.bystander is not None:
        draw_figure(draw, identity_look(shot.bystander), 44 + ox, 6 + oy, scale=0.45)
    if shot.subject is not None:
        if shot.action is None or shot.obj is None:
            raise ValueError("a shot with a subject needs an action and an object")
        draw_figure(draw, identity_look(shot.subject), 4 + ox, 12 + oy,
                    arm_degrees=ACTION_ARMS[shot.action])
        dx, dy, scale, split = object_pose(shot.action, shot.t, shot.frame)
        cx, cy = 44 + dx + ox, 44 + dy + oy
        _motion_marks(draw, shot.action, shot.t, cx, cy)
        draw_object(draw, shot.obj, cx, cy, scale, split)
    return _finish(image, rng)


def render_photo(identity: int, variant: int, rng: np.random.Generator) -> np.ndarray:
    """A portrait of ``identity`` (two variants: background shade and framing), drawn
    as it stands in the film, so photo and frames go through the encoder alike."""
    background = (200, 200, 200) if variant == 0 else (170, 180, 190)
    image = Image.new("RGB", (SIZE, SIZE), background)
    draw = ImageDraw.Draw(image)
    x, y = (21.0, 12.0) if variant == 0 else (17.0, 14.0)
    draw_figure(draw, identity_look(identity), x, y)
    return _finish(image, rng)


def to_image(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(pixels, mode="RGB")


@dataclass(frozen=True)
class Staged:
    """An AD event as the camera sees it: frames ``first..last`` (inclusive) show pool
    identity ``subject`` doing ``action`` to ``obj``, maybe a ``bystander`` behind."""

    first: int
    last: int
    subject: int
    action: str
    obj: str
    bystander: int | None = None


def render_timeline(staged: list[Staged], num_frames: int, background: tuple[int, int, int],
                    rng: np.random.Generator) -> np.ndarray:
    """``(num_frames, SIZE, SIZE, 3)`` uint8: each event's clip, empty set elsewhere."""
    frames = np.empty((num_frames, SIZE, SIZE, 3), dtype=np.uint8)
    empty = Shot(background)
    at = {f: ev for ev in staged for f in range(ev.first, min(ev.last, num_frames - 1) + 1)}
    offsets = {id(ev): jitter(rng) for ev in staged}
    for f in range(num_frames):
        ev = at.get(f)
        if ev is None:
            frames[f] = render_shot(empty, rng)
            continue
        span = max(1, ev.last - ev.first)
        frames[f] = render_shot(Shot(background, ev.subject, ev.action, ev.obj,
                                     t=(f - ev.first) / span, frame=f - ev.first,
                                     bystander=ev.bystander, offset=offsets[id(ev)]), rng)
    return frames


def save_photos(folder: Path, identities: int, seed: int) -> list[list[Path]]:
    """Two portrait PNGs per pool identity in ``folder``; their paths per identity."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 99991])
    paths = []
    for identity in range(identities):
        row = []
        for variant in (0, 1):
            path = folder / f"id{identity:02d}-{variant}.png"
            to_image(render_photo(identity, variant, rng)).save(path)
            row.append(path)
        paths.append(row)
    return paths
