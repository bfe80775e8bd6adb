//! Shared by the camera tests and the examples.
pub mod frames;
