"""Narration of a real video: decoding, features, AD slots, subtitles, speech, mixing."""
