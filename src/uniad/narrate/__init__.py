"""Narration of a real video: decoding, features, AD slots, subtitles, speech, mixing.

One module per step: ``video`` (PyAV decoding), ``encoder`` (CLIP image features),
``extract`` (cached HDF5 feature store), ``cast`` (cast file -> character bank), ``slots``
(gaps between dialogue), ``tracks`` (SRT/WebVTT/JSON, fitting text to a slot), ``speech``
(TTS fitted to slots), ``mix`` (adding the AD track with ffmpeg), ``pipeline`` (the
steps around the model, which it reaches through one callable), ``run`` (all of it for
`uniad narrate`). The demo's sample film and its narration live in :mod:`uniad.world`.
"""
