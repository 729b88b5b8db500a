"""``uniad data``: check dataset files before a run, and convert legacy character banks.

``validate`` lists every problem of annotation, feature and bank files (and cross-checks
them) so that a bad record is found in seconds, not hours into training;
``convert-bank`` turns the release's pickled ``.pth.tar`` exemplars into a safetensors
bank once, so that no later run unpickles anything.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from uniad.commands.options import positive_float
from uniad.errors import DataError

_VALIDATE_EPILOG = """\
accepted files (kind decided by extension, then content):
  annotation JSON   MAD training: [ {movie_id, start, end, ad, char, ad_chars,
                      ad_chars_in_chars, context}, ... ]
                    MAD eval: {movie_id: [ {start, end, ad, context, prob}, ... ]}
                    TV-AD / CMD-AD eval: {"tvad"|"cmdad": [ {key_name, start, end, ad,
                      char, char_in_ad, char_pred, prob, prob_data, content?}, ... ]}
  HDF5 features     .h5 / .hdf5: one dataset per movie (MAD) or per clip
                    "<key_name>_<start>_<end>" (TV-AD, CMD-AD); checked for NaN/Inf
  character bank    .safetensors (ours), legacy .pth.tar exemplars (read without
                    unpickling code), or a cast .json {tt-id: [{id, role, name}, ...]}
  mappings          *_ttmapping.json {AD text: tt-id}, *_chars_mapping.json
                    {nm-id: {name, role, char_in_ad}} (metric-side files)

output: one line per problem, "FILE: record N: field 'F': message", or
"FILE: OK (format, records, videos)" for a clean file.
warnings ("warning: ...") name odd fields the model never reads; they do not fail.
exit status: 0 every file is clean (warnings allowed), 1 problems were found,
  2 the command could not run (e.g. a bad option), 3 an internal error (a bug).

examples:
  uniad data validate MAD_train.json --features CLIP_L14_frames_features_5fps.h5
  uniad data validate tvad_char_refine_eval.json --features TV_eval_videollama.h5 \\
      --bank tv_bank.safetensors
"""


def _validate(args: argparse.Namespace) -> int:
    from uniad.data.validate import validate_paths

    reports = validate_paths(args.paths, features=args.features, bank=args.bank, fps=args.fps)
    for report in reports:
        for line in report.lines():
            print(line)
    bad = [r for r in reports if not r.ok]
    if bad:
        problems = sum(len(r.problems) for r in bad)
        print(f"{problems} problem(s) in {len(bad)} of {len(reports)} file(s)",
              file=sys.stderr)
        return 1
    return 0


def _convert_bank(args: argparse.Namespace) -> int:
    from uniad.data.charbank import convert_legacy_bank  # imports torch

    if Path(args.out).resolve() == Path(args.src).resolve():
        raise DataError(args.out, "--out must differ from SRC (the source would be lost)")
    out = convert_legacy_bank(args.src, args.out, args.cast)
    print(f"wrote {out}")
    return 0


def _build(args: argparse.Namespace) -> int:
    from uniad.train.material import Episode, build_split, choose_encoder  # imports torch

    episodes = [Episode(Path(video), Path(track)) for video, track in args.episode]
    encoder, frame_tokens = choose_encoder(args.checkpoint, args.visual_encoder)
    paths = build_split(episodes, args.cast, args.out, encoder, fps=args.fps,
                        held_out=args.held_out, cache_dir=args.cache_dir, frame_tokens=frame_tokens)
    for what, path in paths.items():
        print(f"{what:<9} {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data",
        help="check dataset files (validate), convert a legacy character bank, or build a "
        "training split from your own episodes",
        description="Check annotation, feature and character-bank files, or convert the "
        "release's .pth.tar exemplars to a safetensors bank.",
    )
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION")
    actions.required = True

    validate = actions.add_parser(
        "validate",
        help="list every problem in annotation JSON, HDF5 features and character banks",
        description=textwrap.fill(
            "Check each PATH and list every problem (missing or mistyped fields, "
            "end <= start, NaN/negative times, non-UTF-8 bytes, NaN features, bad "
            "exemplars), not only the first. With --features / --bank, also check that "
            "every annotated video has features and every character the model reads has "
            "an exemplar.", width=78),
        epilog=_VALIDATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("paths", nargs="+", metavar="PATH",
                          help="annotation JSON, HDF5 feature store or character bank")
    validate.add_argument("--features", metavar="H5",
                          help="feature store the annotations must find their videos in "
                          "(MAD: key movie_id; TV-AD/CMD-AD: key <key_name>_<start>_<end>)")
    validate.add_argument("--bank", metavar="BANK",
                          help="character bank (.safetensors, .pth.tar or cast .json) that "
                          "must hold an exemplar for every character the model reads "
                          "(MAD ad_chars_in_chars, eval prob)")
    validate.add_argument("--fps", type=positive_float, default=5.0,
                          help="frame rate of timeline features; must match the store's fps "
                          "attribute when it has one (default: 5, as MAD)")
    validate.set_defaults(func=_validate)

    convert = actions.add_parser(
        "convert-bank",
        help="convert release .pth.tar exemplars to a safetensors character bank",
        description="Read a release exemplar file (MAD_examplers.pth.tar: "
        "{movie_nm-id: [1, 768]}; chars_all_videollama.pth.tar: {nm-id.jpg: [32, 768]}) "
        "with torch.load(weights_only=True), which refuses pickled code, and write a "
        "safetensors bank that later runs load without unpickling.",
    )
    convert.add_argument("src", metavar="SRC", help="legacy .pth.tar exemplar file")
    convert.add_argument("--out", required=True, metavar="DST",
                         help="safetensors bank to write")
    convert.add_argument("--cast", metavar="CAST_JSON",
                         help="optional cast list {tt-id: [{id, role, name}, ...]} "
                         "stored in the bank (the release's *_charbank.json)")
    convert.set_defaults(func=_convert_bank)

    build = actions.add_parser(
        "build",
        help="a training split from your own described episodes (video + AD track + cast)",
        description="Encode each episode's frames and the cast photos with the visual encoder "
        "the checkpoint to fine-tune was trained on, and write features.h5, bank.safetensors "
        "and train.json (+ heldout.json) in the MAD training format: one record per AD cue, "
        "the characters the AD names (from the cast's names), the previous AD as context. "
        "Then: uniad train --init CHECKPOINT --train-data OUT/train.json --features "
        "OUT/features.h5 --bank OUT/bank.safetensors (docs/fine-tune.md).",
    )
    build.add_argument("--episode", nargs=2, action="append", required=True,
                       metavar=("VIDEO", "AD_TRACK"),
                       help="an episode: its video and its AD track (SRT or WebVTT, one cue "
                       "per AD); repeat for each episode, in story order")
    build.add_argument("--cast", required=True, metavar="CAST",
                       help="cast file (CSV or JSON: id, name, role, short_name, photos)")
    build.add_argument("--checkpoint", metavar="RUN",
                       help="the run to fine-tune: its recorded visual encoder and feature width")
    build.add_argument("--visual-encoder", metavar="DIR",
                       help="CLIP folder the features come from (needed when the checkpoint "
                       "records none, e.g. an imported release checkpoint: CLIP ViT-L/14)")
    build.add_argument("--fps", type=positive_float, default=5.0,
                       help="frame rate of the features (default: 5, as MAD)")
    build.add_argument("--held-out", type=int, default=0, metavar="N",
                       help="the last N episodes go to heldout.json (validation), not train.json")
    build.add_argument("--cache-dir", metavar="DIR", help="feature cache (default: OUT/cache)")
    build.add_argument("--out", required=True, metavar="DIR", help="folder to write")
    build.set_defaults(func=_build)
