//! The station as a system: the `doorway` command line, the systemd unit, and the image
//! recipes.
//!
//! One test binary for these, so the suite links the crate once for them all; each
//! file below is one part of it. Tests that load both cores take `common::SERIAL`.

#[path = "../common/mod.rs"]
mod common;

mod bad_wifi;
mod cli;
mod hosted_bad_wifi;
mod image_recipe;
mod neighbours;
mod neighbours_trust;
mod pi_image;
mod power_cut;
mod stuck_loop;
mod systemd_unit;
