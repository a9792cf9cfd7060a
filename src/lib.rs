//! solon: Byzantine-resilient distributed training with redundant gradients.
//! Module map (dependencies point one way: cluster and experiment use the rest).

pub mod aggregate;
pub mod attack;
pub mod cluster;
pub mod coding;
pub mod config;
pub mod data;
pub mod experiment;
pub mod model;
pub mod train;
