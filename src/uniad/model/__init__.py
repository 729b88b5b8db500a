"""Model: visual mappers, the interleaved sequence, the LLM plug and the UniAD module."""
