//! Capabilities: bounding, effective, permitted, inheritable and ambient sets from the spec.
