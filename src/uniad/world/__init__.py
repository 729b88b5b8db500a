"""The synthetic world and the demo: above the library, imported only by the CLI and the
benchmarks (train, eval and narrate know nothing of it).

``synthetic`` writes a world in the real formats (the vector world, or with ``render`` the
rendered one), ``render`` draws its pictures, ``encoder_fit`` fits the rendered world's
visual encoder, ``pictures`` renders and encodes a movie through narration's encoder and
bank code, ``film`` makes the film of an unseen movie with its true AD track,
``training`` trains and evaluates on a world, ``accuracy`` is its name/pronoun/action/
object scorer (an extra scorer for ``uniad.eval.evaluate``), ``ablations`` changes a world
for `uniad bench learn`, ``sample_media`` makes test films, subtitles and casts with
ffmpeg, and ``narration`` is the demo narrating a film.
"""
