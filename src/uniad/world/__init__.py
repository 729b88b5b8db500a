"""The synthetic world and the demo: above the library, imported only by the CLI and the
benchmarks (train, eval and narrate know nothing of it).

``synthetic`` writes a world in the real formats, ``training`` trains and evaluates on it,
``accuracy`` is its name/pronoun scorer (an extra scorer for ``uniad.eval.evaluate``),
``sample_media`` makes a film, subtitles and a cast with ffmpeg, and ``narration`` is the
demo narrating that film.
"""
