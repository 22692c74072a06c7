"""Host side of the SPU: open a device, solve linear systems and invert matrices on it."""
