//! The checks: a list of small functions, each naming the config path it checks.
