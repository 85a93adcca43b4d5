"""The International Patient Summary 2.0.0: the section table, assembly, validation, profile constants."""
