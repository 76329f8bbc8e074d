//! The host simulation backend (being written).
