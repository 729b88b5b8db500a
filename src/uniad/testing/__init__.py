"""Test doubles shipped for users' own tests: a scripted OpenAI-compatible server
(:mod:`~uniad.testing.openai_stub`), a tiny random vision-language model
(:mod:`~uniad.testing.tiny_vlm`) and headless-browser helpers
(:mod:`~uniad.testing.browser`). Product code never imports this package."""
