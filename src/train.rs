//! The trainer the cluster calls every iteration: per-partition gradients as rows of
//! one P x d tensor on the model's device, an SGD step (momentum, weight decay, step
//! or cosine schedule) from one flat aggregated gradient, and batched evaluation.

use crate::data::{Dataset, Task};
use crate::model::{self, ModelKind, Net};
use anyhow::{bail, Result};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// The learning rate stays at --lr.
    Constant,
    /// Multiply by --lr-gamma every --lr-step iterations.
    Step,
    /// Cosine decay from --lr to 0 over --iterations.
    Cosine,
}

/// Optimiser settings, a view of the run configuration.
#[derive(Debug, Clone)]
pub struct OptimConfig {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub schedule: Schedule,
    pub lr_step: usize,
    pub lr_gamma: f64,
    pub iterations: usize,
}

impl OptimConfig {
    pub fn lr_at(&self, step: usize) -> f64 {
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Step => self.lr * self.lr_gamma.powi((step / self.lr_step.max(1)) as i32),
            Schedule::Cosine => {
                let t = (step as f64 / self.iterations.max(1) as f64).min(1.0);
                0.5 * self.lr * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

/// Runs `f` with libtorch's global random generator seeded by `seed`, holding a
/// process-wide lock: threads of one process (parallel tests, a sweep) share that
/// generator, and interleaved draws would make a seeded run depend on its neighbours.
pub fn with_torch_seed<T>(seed: u64, f: impl FnOnce() -> T) -> T {
    static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _lock = TORCH_RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    tch::manual_seed(seed as i64);
    f()
}

pub struct Trainer {
    pub vs: nn::VarStore,
    net: Net,
    params: Vec<Tensor>,
    d: i64,
    velocity: Option<Tensor>,
    optim: OptimConfig,
    task: Task,
    step: usize,
}

impl Trainer {
    /// Builds `kind` for `data` on `device`, initialised from `seed`.
    pub fn new(
        kind: ModelKind,
        data: &Dataset,
        optim: OptimConfig,
        device: Device,
        seed: u64,
    ) -> Result<Self> {
        let vs = nn::VarStore::new(device);
        let net = with_torch_seed(seed, || {
            model::build(kind, &vs.root(), &data.input_shape, data.outputs)
        })?;
        // Sorted by name so the flat layout is the same in every process.
        let mut named: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let params: Vec<Tensor> = named.into_iter().map(|(_, t)| t).collect();
        let d = params.iter().map(|p| p.numel() as i64).sum();
        Ok(Trainer {
            vs,
            net,
            params,
            d,
            velocity: None,
            optim,
            task: data.task,
            step: 0,
        })
    }

    /// d, the number of trainable parameters.
    pub fn dim(&self) -> i64 {
        self.d
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    pub fn step_count(&self) -> usize {
        self.step
    }

    /// All trainable parameters as one flat vector (a copy).
    pub fn flat_params(&self) -> Tensor {
        let _guard = tch::no_grad_guard();
        Tensor::cat(&self.params.iter().map(|p| p.view(-1)).collect::<Vec<_>>(), 0)
    }

    /// Overwrites every trainable parameter from a flat vector of length d.
    pub fn set_flat_params(&mut self, flat: &Tensor) -> Result<()> {
        if flat.size() != [self.d] {
            bail!(
                "flat parameter vector has shape {:?}, model has d = {}",
                flat.size(),
                self.d
            );
        }
        let _guard = tch::no_grad_guard();
        let mut offset = 0;
        for p in self.params.iter_mut() {
            let n = p.numel() as i64;
            p.copy_(&flat.narrow(0, offset, n).view_as(p));
            offset += n;
        }
        Ok(())
    }

    fn loss(&self, out: &Tensor, y: &Tensor) -> Tensor {
        match self.task {
            Task::Classification => out.cross_entropy_for_logits(y),
            Task::Regression => out.mse_loss(y, tch::Reduction::Mean),
        }
    }

    /// The gradient of the mean loss over (x, y) as a flat d-vector, and that loss.
    pub fn gradient(&mut self, x: &Tensor, y: &Tensor) -> (Tensor, f64) {
        let out = self.net.forward_t(x, true);
        let loss = self.loss(&out, y);
        let grads = Tensor::run_backward(&[&loss], &self.params, false, false);
        let flat = Tensor::cat(&grads.iter().map(|g| g.view(-1)).collect::<Vec<_>>(), 0);
        (flat, f64::try_from(&loss).unwrap_or(f64::NAN))
    }

    /// Splits the batch into `parts` equal consecutive partitions and returns each
    /// partition's gradient (of its mean loss) as a row of a parts x d tensor, plus
    /// the mean loss over the batch. The batch size must be divisible by `parts`.
    pub fn partition_gradients(&mut self, x: &Tensor, y: &Tensor, parts: i64) -> Result<(Tensor, f64)> {
        let b = x.size()[0];
        if parts < 1 || b % parts != 0 {
            bail!("a batch of {b} samples cannot be cut into {parts} equal partitions");
        }
        let per = b / parts;
        let rows = Tensor::empty([parts, self.d], (Kind::Float, self.device()));
        let mut loss_sum = 0.0;
        for j in 0..parts {
            let (g, loss) = self.gradient(&x.narrow(0, j * per, per), &y.narrow(0, j * per, per));
            tch::no_grad(|| rows.get(j).copy_(&g));
            loss_sum += loss;
        }
        Ok((rows, loss_sum / parts as f64))
    }

    /// One SGD step with the flat aggregated gradient `g` (length d): weight decay,
    /// heavy-ball momentum, the scheduled learning rate.
    pub fn apply(&mut self, g: &Tensor) -> Result<()> {
        if g.size() != [self.d] {
            bail!(
                "aggregated gradient has shape {:?}, model has d = {}",
                g.size(),
                self.d
            );
        }
        let _guard = tch::no_grad_guard();
        let mut update = g.to_kind(Kind::Float);
        if self.optim.weight_decay != 0.0 {
            update += self.flat_params() * self.optim.weight_decay;
        }
        if self.optim.momentum != 0.0 {
            let v = match self.velocity.take() {
                Some(v) => v * self.optim.momentum + &update,
                None => update,
            };
            update = v.shallow_clone();
            self.velocity = Some(v);
        }
        let lr = self.optim.lr_at(self.step);
        let mut offset = 0;
        for p in self.params.iter_mut() {
            let n = p.numel() as i64;
            let _ = p.f_sub_(&(update.narrow(0, offset, n).view_as(p) * lr))?;
            offset += n;
        }
        self.step += 1;
        Ok(())
    }

    /// Mean loss and accuracy (NaN for regression) over (x, y), in batches of `batch`.
    pub fn evaluate(&self, x: &Tensor, y: &Tensor, batch: i64) -> (f64, f64) {
        let _guard = tch::no_grad_guard();
        let n = x.size()[0];
        let (mut loss, mut correct) = (0.0, 0.0);
        let mut start = 0;
        while start < n {
            let len = batch.min(n - start);
            let (xs, ys) = (x.narrow(0, start, len), y.narrow(0, start, len));
            let out = self.net.forward_t(&xs, false);
            loss += f64::try_from(self.loss(&out, &ys)).unwrap_or(f64::NAN) * len as f64;
            if self.task == Task::Classification {
                correct += f64::try_from(out.argmax(-1, false).eq_tensor(&ys).sum(Kind::Double)).unwrap();
            }
            start += len;
        }
        let acc = if self.task == Task::Classification {
            correct / n as f64
        } else {
            f64::NAN
        };
        (loss / n as f64, acc)
    }
}

/// Draws global batches without replacement from a seeded permutation per epoch
/// (the last incomplete batch of an epoch is dropped).
pub struct BatchSampler {
    order: Vec<i64>,
    position: usize,
    batch: usize,
    rng: StdRng,
    pub epoch: usize,
    device: Device,
}

impl BatchSampler {
    pub fn new(len: i64, batch: usize, seed: u64, device: Device) -> Result<Self> {
        if batch == 0 || batch as i64 > len {
            bail!("--batch-size {batch} must be between 1 and the training set size {len}");
        }
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_ba7c);
        let mut order: Vec<i64> = (0..len).collect();
        order.shuffle(&mut rng);
        Ok(BatchSampler {
            order,
            position: 0,
            batch,
            rng,
            epoch: 0,
            device,
        })
    }

    /// Indices of the next batch, on the dataset's device.
    pub fn next_indices(&mut self) -> Tensor {
        if self.position + self.batch > self.order.len() {
            self.order.shuffle(&mut self.rng);
            self.position = 0;
            self.epoch += 1;
        }
        let idx =
            Tensor::from_slice(&self.order[self.position..self.position + self.batch]).to_device(self.device);
        self.position += self.batch;
        idx
    }

    /// Fractional epochs completed.
    pub fn epochs(&self) -> f64 {
        self.epoch as f64 + self.position as f64 / self.order.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic;

    fn optim() -> OptimConfig {
        OptimConfig {
            lr: 0.1,
            momentum: 0.0,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            lr_step: 1,
            lr_gamma: 1.0,
            iterations: 100,
        }
    }

    #[test]
    fn flat_gradient_is_the_concatenation_of_per_parameter_gradients() {
        let data = synthetic::gaussian_mixture(3, Device::Cpu);
        let mut t = Trainer::new(ModelKind::Mlp, &data, optim(), Device::Cpu, 1).unwrap();
        let x = data.train_x.narrow(0, 0, 8);
        let y = data.train_y.narrow(0, 0, 8);
        let (flat, _) = t.gradient(&x, &y);
        // The same gradient through the ordinary .backward() path, parameter by parameter.
        let loss = t.net.forward_t(&x, true).cross_entropy_for_logits(&y);
        loss.backward();
        let mut offset = 0;
        for p in &t.params {
            let n = p.numel() as i64;
            let expected = p.grad().view(-1);
            assert!(flat.narrow(0, offset, n).allclose(&expected, 1e-6, 1e-7, false));
            offset += n;
        }
        assert_eq!(offset, t.dim());
        assert_eq!(flat.size(), [1_033_510]);
    }

    #[test]
    fn partition_gradients_average_to_the_batch_gradient() {
        let data = synthetic::gaussian_mixture(4, Device::Cpu);
        let mut t = Trainer::new(ModelKind::Logreg, &data, optim(), Device::Cpu, 1).unwrap();
        let x = data.train_x.narrow(0, 0, 12);
        let y = data.train_y.narrow(0, 0, 12);
        let (rows, _) = t.partition_gradients(&x, &y, 4).unwrap();
        assert_eq!(rows.size(), [4, t.dim()]);
        let (whole, _) = t.gradient(&x, &y);
        assert!(rows
            .mean_dim(0, false, Kind::Float)
            .allclose(&whole, 1e-5, 1e-6, false));
        assert!(t.partition_gradients(&x, &y, 5).is_err());
    }

    #[test]
    fn flat_params_round_trip_and_sgd_step() {
        let data = synthetic::gaussian_mixture(5, Device::Cpu);
        let mut t = Trainer::new(ModelKind::Logreg, &data, optim(), Device::Cpu, 1).unwrap();
        let before = t.flat_params();
        let g = Tensor::ones([t.dim()], (Kind::Float, Device::Cpu));
        t.apply(&g).unwrap();
        let after = t.flat_params();
        assert!(
            (before.shallow_clone() - 0.1 - &after)
                .abs()
                .max()
                .double_value(&[])
                < 1e-6
        );
        t.set_flat_params(&before).unwrap();
        assert!(t.flat_params().equal(&before));
        assert!(t.apply(&Tensor::ones([3], (Kind::Float, Device::Cpu))).is_err());
    }

    #[test]
    fn schedules() {
        let mut o = optim();
        o.schedule = Schedule::Step;
        o.lr_step = 10;
        o.lr_gamma = 0.5;
        assert_eq!(o.lr_at(9), 0.1);
        assert_eq!(o.lr_at(10), 0.05);
        o.schedule = Schedule::Cosine;
        assert!((o.lr_at(50) - 0.05).abs() < 1e-12);
        assert!(o.lr_at(100).abs() < 1e-12);
    }
}
