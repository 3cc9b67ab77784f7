"""Pure incident logic: the state machine and derived values."""
