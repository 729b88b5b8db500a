"""Decoding the film and what is read straight off it: audio, frames, voice activity, shot cuts, on-screen text."""
