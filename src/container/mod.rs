//! Container operations: create, start, state, kill, delete, run, list.
