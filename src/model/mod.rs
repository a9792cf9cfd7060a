//! Networks, built by name into a VarStore, matching the definitions of Draco's code
//! so results compare with the paper: logreg, mlp (Draco's FC net), lenet (Draco's
//! LeNet, 431,080 parameters for 1x28x28) and the CIFAR-style ResNet-18.

mod resnet;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Multinomial logistic regression (one linear layer); also the linear model for regression.
    Logreg,
    /// Draco's fully connected net: in-800-500-out with ReLU.
    Mlp,
    /// Draco's LeNet: conv(20,5x5)-pool-ReLU-conv(50,5x5)-pool-ReLU-fc(500)-fc(out).
    Lenet,
    /// CIFAR-style ResNet-18 (3x3 stem, no initial pooling), about 11.2M parameters.
    Resnet18,
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(clap::ValueEnum::to_possible_value(self).unwrap().get_name())
    }
}

/// A network: `forward_t` with train = true uses batch statistics (ResNet's BatchNorm).
pub type Net = Box<dyn ModuleT + Send>;

/// Builds `kind` for inputs of `input_shape` (without the batch dimension) and `outputs` logits.
pub fn build(kind: ModelKind, vs: &nn::Path, input_shape: &[i64], outputs: i64) -> Result<Net> {
    let flat: i64 = input_shape.iter().product();
    Ok(match kind {
        ModelKind::Logreg => Box::new(nn::seq_t().add_fn(|x| x.flatten(1, -1)).add(nn::linear(
            vs / "fc",
            flat,
            outputs,
            Default::default(),
        ))),
        ModelKind::Mlp => Box::new(mlp(vs, flat, outputs)),
        ModelKind::Lenet => {
            if input_shape != [1, 28, 28] {
                bail!("lenet expects 1x28x28 inputs (MNIST-like), got {input_shape:?}; use resnet18 or mlp for this dataset");
            }
            Box::new(lenet(vs, outputs))
        }
        ModelKind::Resnet18 => {
            if input_shape.len() != 3 {
                bail!("resnet18 expects image inputs CxHxW, got {input_shape:?}");
            }
            Box::new(resnet::resnet18(vs, input_shape[0], outputs))
        }
    })
}

fn mlp(vs: &nn::Path, inputs: i64, outputs: i64) -> nn::SequentialT {
    nn::seq_t()
        .add_fn(|x| x.flatten(1, -1))
        .add(nn::linear(vs / "fc1", inputs, 800, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(vs / "fc2", 800, 500, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(vs / "fc3", 500, outputs, Default::default()))
}

fn lenet(vs: &nn::Path, outputs: i64) -> nn::SequentialT {
    // Draco's LeNet has no nonlinearity between its two fully connected layers.
    nn::seq_t()
        .add(nn::conv2d(vs / "conv1", 1, 20, 5, Default::default()))
        .add_fn(|x| x.max_pool2d_default(2).relu())
        .add(nn::conv2d(vs / "conv2", 20, 50, 5, Default::default()))
        .add_fn(|x| x.max_pool2d_default(2).relu().flatten(1, -1))
        .add(nn::linear(vs / "fc1", 800, 500, Default::default()))
        .add(nn::linear(vs / "fc2", 500, outputs, Default::default()))
}

/// Applies a module in evaluation mode; a small convenience for tests.
pub fn forward_eval(net: &Net, x: &tch::Tensor) -> tch::Tensor {
    net.forward_t(x, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, Tensor};

    fn count(kind: ModelKind, shape: &[i64], outputs: i64) -> (i64, Vec<i64>) {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = build(kind, &vs.root(), shape, outputs).unwrap();
        let mut input = vec![3];
        input.extend_from_slice(shape);
        let y = forward_eval(&net, &Tensor::randn(input.as_slice(), (Kind::Float, Device::Cpu)));
        let params: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        (params, y.size())
    }

    #[test]
    fn parameter_counts_and_output_shapes() {
        assert_eq!(count(ModelKind::Logreg, &[1, 28, 28], 10), (7850, vec![3, 10]));
        assert_eq!(count(ModelKind::Mlp, &[1, 28, 28], 10), (1_033_510, vec![3, 10]));
        assert_eq!(count(ModelKind::Lenet, &[1, 28, 28], 10), (431_080, vec![3, 10]));
        let (p, shape) = count(ModelKind::Resnet18, &[3, 32, 32], 10);
        assert_eq!(shape, vec![3, 10]);
        assert_eq!(p, 11_173_962);
        let (p1, shape1) = count(ModelKind::Resnet18, &[1, 28, 28], 10);
        assert_eq!(shape1, vec![3, 10]);
        assert_eq!(p - p1, 2 * 64 * 9, "only the stem's input channels differ");
        assert_eq!(count(ModelKind::Logreg, &[16], 1), (17, vec![3, 1]));
    }

    #[test]
    fn lenet_refuses_other_shapes() {
        let vs = nn::VarStore::new(Device::Cpu);
        let err = build(ModelKind::Lenet, &vs.root(), &[3, 32, 32], 10)
            .err()
            .unwrap();
        assert!(err.to_string().contains("1x28x28"));
    }
}
