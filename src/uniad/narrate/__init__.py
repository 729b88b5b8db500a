"""Narration of a real video: decoding, features, AD gaps, planning, speech, deliverables.

A small vocabulary at the bottom (:mod:`~uniad.narrate.core`: intervals, slots, the
describer protocol, the narrated AD) under four wings, each importing only the ones
before it:

- ``media``: decoding the film (``video``, ``frames``, ``ffmpeg``; ``scan``: one pass for
  the soundtrack, shot cuts and on-screen text), voice activity (``vad``), shot cuts
  (``shots``), on-screen text (``ocr``);
- ``timeline``: subtitles, slots between dialogue, the gaps narration uses (``gaps``),
  dialogue around a slot, timing rules (``timing``), on-screen text worth reading;
- ``describe``: who writes the ADs: UniAD (``uniad``), a local VLM (``vlm``), an
  OpenAI-compatible server (``openai``), their prompt, the visual encoder and the
  features encoded where read (``encoder``, ``extract``), the cast (``cast``), the answer
  journal (``journal``), and ``choose``;
- ``deliver``: plan (descriptions into gaps), speech and its fitting, tracks
  (SRT/WebVTT/JSON), DAPT, the mix, the extended video, the review page, every output
  (``deliverables``) and ``render`` (`uniad render` from an edited track).

``run`` glues them for `uniad narrate`; the settings are sections of :mod:`uniad.config`
(``NarrationConfig``, ``ScreenTextConfig``, ``DescriberConfig``). The
demo's sample film and its narration live in :mod:`uniad.world`; test doubles in
:mod:`uniad.testing`.
"""
