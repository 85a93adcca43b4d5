"""The International Patient Summary (IPS 2.0.0): pure tables and functions, no Django."""
