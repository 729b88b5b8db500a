"""Narration of a real video: decoding, features, AD gaps, planning, speech, deliverables.

One module per step: ``video`` (PyAV decoding), ``encoder`` (CLIP image features),
``extract`` (cached HDF5 feature store), ``cast`` (cast file -> character bank), ``slots``
(gaps between dialogue, subtitle parsing), ``vad`` (voice activity), ``shots`` (shot
cuts), ``gaps`` (the gaps narration uses), ``settings`` (the narration settings),
``timing`` (words per minute and the REFRAMED realism rule), ``pipeline`` (the describer
seam), ``plan`` (descriptions planned into gaps), ``speech`` (TTS voices), ``fit``
(speech fitted into its gap), ``tracks`` (SRT/WebVTT/JSON), ``dapt`` (W3C DAPT),
``mix`` (the AD stream with ffmpeg), ``extended`` (the paused video), ``review`` (the
``ad.html`` page), ``browser`` (headless Chromium for it), ``deliver`` (every output),
``edit`` (`uniad render` from an edited track), and ``run`` (all of it for `uniad narrate`). The demo's sample film and its narration
live in :mod:`uniad.world`.
"""
