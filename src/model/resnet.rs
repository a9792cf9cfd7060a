//! CIFAR-style ResNet-18 (He et al. 2016, as in the Draco/DETOX code): a 3x3 stem
//! without max-pooling, four stages of two basic blocks (64, 128, 256, 512 channels),
//! global average pooling and one linear layer. Works for 3x32x32 and 1x28x28.

use tch::nn::{self, ModuleT};
use tch::Tensor;

fn conv3x3(vs: nn::Path, cin: i64, cout: i64, stride: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding: 1,
        bias: false,
        ..Default::default()
    };
    nn::conv2d(vs, cin, cout, 3, cfg)
}

fn basic_block(vs: nn::Path, cin: i64, cout: i64, stride: i64) -> impl ModuleT {
    let conv1 = conv3x3(&vs / "conv1", cin, cout, stride);
    let bn1 = nn::batch_norm2d(&vs / "bn1", cout, Default::default());
    let conv2 = conv3x3(&vs / "conv2", cout, cout, 1);
    let bn2 = nn::batch_norm2d(&vs / "bn2", cout, Default::default());
    let shortcut = if stride != 1 || cin != cout {
        let cfg = nn::ConvConfig {
            stride,
            bias: false,
            ..Default::default()
        };
        let down = &vs / "shortcut";
        Some((
            nn::conv2d(&down / "0", cin, cout, 1, cfg),
            nn::batch_norm2d(&down / "1", cout, Default::default()),
        ))
    } else {
        None
    };
    nn::func_t(move |x, train| {
        let out = x
            .apply(&conv1)
            .apply_t(&bn1, train)
            .relu()
            .apply(&conv2)
            .apply_t(&bn2, train);
        let skip = match &shortcut {
            Some((conv, bn)) => x.apply(conv).apply_t(bn, train),
            None => x.shallow_clone(),
        };
        (out + skip).relu()
    })
}

fn stage(vs: nn::Path, cin: i64, cout: i64, stride: i64) -> nn::SequentialT {
    nn::seq_t()
        .add(basic_block(&vs / "0", cin, cout, stride))
        .add(basic_block(&vs / "1", cout, cout, 1))
}

pub fn resnet18(vs: &nn::Path, in_channels: i64, outputs: i64) -> nn::SequentialT {
    nn::seq_t()
        .add(conv3x3(vs / "conv1", in_channels, 64, 1))
        .add(nn::batch_norm2d(vs / "bn1", 64, Default::default()))
        .add_fn(|x| x.relu())
        .add(stage(vs / "layer1", 64, 64, 1))
        .add(stage(vs / "layer2", 64, 128, 2))
        .add(stage(vs / "layer3", 128, 256, 2))
        .add(stage(vs / "layer4", 256, 512, 2))
        .add_fn(|x: &Tensor| x.adaptive_avg_pool2d([1, 1]).flatten(1, -1))
        .add(nn::linear(vs / "linear", 512, outputs, Default::default()))
}
