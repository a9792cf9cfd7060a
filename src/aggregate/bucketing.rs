//! Bucketing (Karimireddy, He and Jaggi 2022): shuffle the n inputs, average
//! them in ceil(n/s) buckets of s (the last may be smaller) and hand the bucket
//! means to the rule, which still assumes f Byzantine vectors (each Byzantine
//! input spoils at most one bucket). A non-finite input makes its bucket
//! non-finite, an outlier the rule then handles. Seeded: same seed, same buckets.

use super::{check_inputs, index_tensor};
use anyhow::Result;
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use tch::{Kind, Tensor};

pub struct Bucketing {
    size: usize,
    rng: StdRng,
}

impl Bucketing {
    pub fn new(size: usize, seed: u64) -> Self {
        Bucketing {
            size: size.max(1),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// ceil(n/s) x d bucket means, a fresh random bucketing at every call.
    pub fn bucket_means(&mut self, inputs: &Tensor) -> Result<Tensor> {
        let (n, _) = check_inputs(inputs)?;
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut self.rng);
        let means: Vec<Tensor> = order
            .chunks(self.size)
            .map(|bucket| {
                inputs
                    .index_select(0, &index_tensor(bucket, inputs.device()))
                    .mean_dim(0, false, None::<Kind>)
            })
            .collect();
        Ok(Tensor::stack(&means, 0))
    }
}
