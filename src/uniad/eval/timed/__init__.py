"""Timed AD-track metrics: REFRAMED's evaluation (Sterner et al., COLM 2026), equal to its code.

A whole AD track of a film is scored against reference tracks and the dialogue, so that
*when* a description is placed counts as much as *what* it says. One module per job:

- :mod:`.segments`: the segment type (start, end, text, tokens) and text normalisation;
- :mod:`.gaps`: dialogue gaps, the collar, the midpoint cut of overlapping generations;
- :mod:`.realistic`: the "realistic" filter (speaking rate, gaps, overlaps) and WPM;
- :mod:`.gap_scores`: gap CIDEr and gap METEOR records;
- :mod:`.soda`: SODA-M / SODA-T on a METEOR similarity matrix;
- :mod:`.aggregate`: per item -> per movie -> over movies;
- :mod:`.significance`: REFRAMED's permutation tests between two systems;
- :mod:`.java`: the batched METEOR backend (one Java process for a whole set);
- :mod:`.pipeline`: the driver that ties these to a set of films (no file I/O);
- :mod:`.readers`: track, dialogue and REFRAMED-layout files.
"""
