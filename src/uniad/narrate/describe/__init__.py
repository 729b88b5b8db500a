"""Who writes the ADs: UniAD, a local vision-language model or an OpenAI-compatible server, their prompt, the visual encoder, features and cast."""
