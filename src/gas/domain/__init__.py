"""Pure rules of GAS: no I/O, no frameworks."""
