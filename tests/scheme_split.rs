//! The MPI backend's three halves of an iteration (worker messages, Byzantine messages,
//! PS combine) compute what the simulator's one-step `SchemeRunner::step` computes, for
//! every scheme family and for attacks on own messages and on honest statistics.

use solon::aggregate::Rule;
use solon::attack::AttackKind;
use solon::cluster::scheme::SchemeRunner;
use solon::config::{RunConfig, Scheme};
use tch::{Device, Kind, Tensor};

fn config(scheme: Scheme, aggregator: Rule, attack: AttackKind) -> RunConfig {
    RunConfig {
        scheme,
        aggregator,
        attack,
        adversaries: 1,
        workers: 6,
        batch_size: 12,
        seed: 9,
        device: solon::config::DeviceChoice::Cpu,
        ..Default::default()
    }
}

#[test]
fn split_iteration_equals_the_simulator_step() {
    let d = 50;
    let cases = [
        (Scheme::Plain, Rule::Mean, AttackKind::Reverse),
        (Scheme::Plain, Rule::Median, AttackKind::Alie),
        (Scheme::Plain, Rule::Signum, AttackKind::SignFlip),
        (Scheme::Detox, Rule::Median, AttackKind::Constant),
        (Scheme::DracoCyclic, Rule::Mean, AttackKind::Reverse),
        (Scheme::SolonCyclic, Rule::Mean, AttackKind::Alie),
        (Scheme::DracoRep, Rule::Mean, AttackKind::Reverse),
    ];
    for (scheme, rule, attack) in cases {
        let config = config(scheme, rule, attack);
        config
            .validate()
            .unwrap_or_else(|e| panic!("{scheme} {rule} {attack}: {e:#}"));
        let mut whole = SchemeRunner::new(&config, d).unwrap();
        let mut split = SchemeRunner::new(&config, d).unwrap();
        let all: Vec<usize> = (0..config.workers).collect();
        for iteration in 1..=3 {
            tch::manual_seed(iteration as i64);
            let grads = Tensor::randn([config.workers as i64, d as i64], (Kind::Float, Device::Cpu));
            let byzantine = whole.byzantine(iteration);
            assert_eq!(byzantine, split.byzantine(iteration));
            let expected = whole.step(&grads, None, &byzantine, iteration).unwrap();
            let (honest, _) = split.worker_messages(&grads, None, &byzantine, &all).unwrap();
            let bad = split
                .byzantine_messages(&honest, &grads, &byzantine, iteration)
                .unwrap();
            let rows = Tensor::from_slice(&byzantine.iter().map(|&b| b as i64).collect::<Vec<_>>());
            let received = honest.index_copy(0, &rows, &bad);
            let got = split.combine(&received, d).unwrap();
            let (a, b) = (expected.gradient.unwrap(), got.gradient.unwrap());
            let diff = (&a - &b).abs().max().double_value(&[]);
            assert!(
                diff <= 1e-6 * a.abs().max().double_value(&[]).max(1e-6),
                "{scheme} {rule} {attack}: {diff}"
            );
            assert_eq!(expected.faults, got.faults, "{scheme} {rule} {attack}");
        }
    }
}

#[test]
fn a_missing_message_is_an_erasure_the_decoder_marks() {
    let config = config(Scheme::SolonCyclic, Rule::Mean, AttackKind::None);
    let d = 40;
    let mut runner = SchemeRunner::new(&config, d).unwrap();
    let grads = Tensor::randn([6, d as i64], (Kind::Float, Device::Cpu));
    let all: Vec<usize> = (0..6).collect();
    let (honest, _) = runner.worker_messages(&grads, None, &[], &all).unwrap();
    let _ = honest.get(4).fill_(f64::NAN);
    let out = runner.combine(&honest, d).unwrap();
    assert_eq!(out.faults, 1);
    let expected = grads.mean_dim(0, false, Kind::Float);
    let diff = (out.gradient.unwrap() - expected).abs().max().double_value(&[]);
    assert!(diff < 1e-5, "{diff}");
}
