"""Data: typed records, readers and writers of the real formats, features, banks, datasets."""
