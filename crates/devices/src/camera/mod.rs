//! Cameras (nokhwa).
