//! The trainer on small problems the tests make: learning, optimisers,
//! schedules, early stopping, k-fold, retrain → save → load → predict.

use ferrotune_train::data::{Dataset, Targets};
use ferrotune_train::hyperparams::{Activation, Hyperparams, Init, OptimizerKind, Schedule};
use ferrotune_train::optim::scheduler;
use ferrotune_train::train::{fit, Control, FitOptions, StopReason};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Two Gaussian blobs in 2-D, centres (±1.5, ±1.5): linearly separable
/// but for a sliver of overlap.
fn blobs(n: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut features = vec![];
    let mut labels = vec![];
    for i in 0..n {
        let c = (i % 2) as u32;
        let s = if c == 0 { -1.5 } else { 1.5 };
        features.push(s + rng.random_range(-1.0f32..1.0));
        features.push(s + rng.random_range(-1.0f32..1.0));
        labels.push(c);
    }
    Dataset { features, n_features: 2, targets: Targets::Classes { labels, n_classes: 2 } }
}

/// y = 2·x0 − x1 + 0.5.
fn line(n: usize) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut features = vec![];
    let mut values = vec![];
    for _ in 0..n {
        let (a, b) = (rng.random_range(-1.0f32..1.0), rng.random_range(-1.0f32..1.0));
        features.extend([a, b]);
        values.push(2.0 * a - b + 0.5);
    }
    Dataset { features, n_features: 2, targets: Targets::Values(values) }
}

fn opts() -> FitOptions {
    FitOptions { threads: 1, ..FitOptions::default() }
}

#[test]
fn a_small_mlp_learns_a_separable_problem() {
    let (train, val) = (blobs(400, 1), blobs(200, 2));
    for act in [Activation::Relu, Activation::Tanh, Activation::Gelu, Activation::Sigmoid, Activation::LeakyRelu] {
        let hp = Hyperparams { units: 16, activation: act, epochs: 8, batch_size: 32, learning_rate: 0.01, dropout: 0.1, ..Hyperparams::default() };
        let f = fit(&hp, &train, Some(&val), &opts(), &mut |_| Control::Continue).unwrap();
        let acc = f.history.last().unwrap().val_accuracy.unwrap();
        assert!(acc >= 0.95, "{act:?}: validation accuracy {acc}");
        assert!(f.history.last().unwrap().train_loss < f.history[0].train_loss, "{act:?}");
    }
    // Batch norm and the other initialisations train too.
    for init in [Init::He, Init::Xavier, Init::Lecun] {
        let hp = Hyperparams { units: 16, layers: 2, batch_norm: true, init, epochs: 6, batch_size: 32, learning_rate: 0.01, ..Hyperparams::default() };
        let f = fit(&hp, &train, Some(&val), &opts(), &mut |_| Control::Continue).unwrap();
        assert!(f.history.last().unwrap().val_accuracy.unwrap() >= 0.95, "{init:?}");
    }
}

#[test]
fn same_seed_same_model_other_seed_other_model() {
    let train = blobs(200, 1);
    let hp = Hyperparams { units: 8, epochs: 2, batch_size: 16, dropout: 0.2, seed: 5, ..Hyperparams::default() };
    let a = fit(&hp, &train, None, &opts(), &mut |_| Control::Continue).unwrap();
    let b = fit(&hp, &train, None, &opts(), &mut |_| Control::Continue).unwrap();
    assert_eq!(a.model.linear_weights(), b.model.linear_weights());
    let c = fit(&Hyperparams { seed: 6, ..hp }, &train, None, &opts(), &mut |_| Control::Continue).unwrap();
    assert_ne!(a.model.linear_weights(), c.model.linear_weights());
}

/// One full-batch SGD step on a linear model with MSE moves every weight by
/// exactly −lr · (∂loss/∂w + λ·w), computed here by hand.
#[test]
fn sgd_with_l2_takes_the_exact_gradient_step() {
    let ds = line(8);
    let (lr, l2) = (0.1f32, 0.01f32);
    let base = Hyperparams { layers: 0, optimizer: OptimizerKind::Sgd, learning_rate: lr as f64, weight_decay: l2 as f64, batch_size: 8, epochs: 1, seed: 3, ..Hyperparams::default() };
    // Initial weights: the same seed with 0 epochs is not allowed, so rebuild
    // the model the way `fit` does.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let m0 = ferrotune_train::model::Mlp::new(&base, 2, 1, &mut rng, &burn::tensor::Device::flex());
    let (w0, b0) = m0.linear_weights()[0].clone();
    let f = fit(&base, &ds, None, &opts(), &mut |_| Control::Continue).unwrap();
    let (w1, b1) = f.model.linear_weights()[0].clone();
    let Targets::Values(y) = &ds.targets else { unreachable!() };
    let n = y.len() as f32;
    let mut gw = [0f32; 2];
    let mut gb = 0f32;
    for (i, yi) in y.iter().enumerate() {
        let x = &ds.features[2 * i..2 * i + 2];
        let r = x[0] * w0[0] + x[1] * w0[1] + b0[0] - yi;
        gw[0] += 2.0 * r * x[0] / n;
        gw[1] += 2.0 * r * x[1] / n;
        gb += 2.0 * r / n;
    }
    for j in 0..2 {
        let expect = w0[j] - lr * (gw[j] + l2 * w0[j]);
        assert!((w1[j] - expect).abs() < 1e-5, "w{j}: {} vs {expect}", w1[j]);
    }
    let expect_b = b0[0] - lr * (gb + l2 * b0[0]);
    assert!((b1[0] - expect_b).abs() < 1e-5, "b: {} vs {expect_b}", b1[0]);
}

#[test]
fn every_optimizer_fits_a_line() {
    let ds = line(256);
    let cases = [
        (OptimizerKind::Sgd, 0.0, false, 0.1),
        (OptimizerKind::Sgd, 0.9, false, 0.05),
        (OptimizerKind::Sgd, 0.9, true, 0.05),
        (OptimizerKind::Adam, 0.0, false, 0.05),
        (OptimizerKind::Adamw, 0.0, false, 0.05),
        (OptimizerKind::Rmsprop, 0.0, false, 0.01),
        (OptimizerKind::Rmsprop, 0.5, false, 0.01),
    ];
    for (opt, momentum, nesterov, lr) in cases {
        let hp = Hyperparams { layers: 0, optimizer: opt, momentum, nesterov, learning_rate: lr, batch_size: 16, epochs: 15, ..Hyperparams::default() };
        let f = fit(&hp, &ds, Some(&ds), &opts(), &mut |_| Control::Continue).unwrap();
        let first = f.history[0].train_loss;
        let last = f.history.last().unwrap().val_loss.unwrap();
        assert!(last < 0.01 && last < first / 10.0, "{opt:?} momentum {momentum} nesterov {nesterov}: {first} -> {last}");
        let (w, b) = &f.model.linear_weights()[0];
        assert!((w[0] - 2.0).abs() < 0.1 && (w[1] + 1.0).abs() < 0.1 && (b[0] - 0.5).abs() < 0.1, "{opt:?}: {w:?} {b:?}");
    }
}

#[test]
fn schedules_follow_their_formulas() {
    let lrs = |hp: &Hyperparams, steps_per_epoch: usize, n: usize| -> Vec<f64> {
        let mut s = scheduler(hp, steps_per_epoch).unwrap();
        (0..n).map(|_| s.step().base()).collect()
    };
    let base = Hyperparams { learning_rate: 0.1, epochs: 4, ..Hyperparams::default() };
    assert!(lrs(&base, 10, 40).iter().all(|&l| l == 0.1));
    let exp = Hyperparams { schedule: Schedule::Exponential, decay_rate: 0.5, decay_steps: 10, ..base.clone() };
    let l = lrs(&exp, 10, 21);
    assert!((l[0] - 0.1).abs() < 1e-9 && (l[10] - 0.05).abs() < 1e-6 && (l[20] - 0.025).abs() < 1e-6 && (l[5] - 0.1 * 0.5f64.powf(0.5)).abs() < 1e-6, "{l:?}");
    let stair = Hyperparams { staircase: true, ..exp };
    let l = lrs(&stair, 10, 21);
    assert!(l[9] == 0.1 && (l[10] - 0.05).abs() < 1e-12 && (l[19] - 0.05).abs() < 1e-12, "{l:?}");
    let step = Hyperparams { schedule: Schedule::Step, step_size: 2, gamma: 0.1, ..base.clone() };
    let l = lrs(&step, 10, 40);
    assert!(l[19] == 0.1 && (l[20] - 0.01).abs() < 1e-12, "{l:?}");
    let cos = Hyperparams { schedule: Schedule::Cosine, min_lr: 0.001, ..base.clone() };
    let l = lrs(&cos, 10, 41);
    assert!((l[0] - 0.1).abs() < 1e-9 && (l[20] - 0.0505).abs() < 1e-3 && (l[40] - 0.001).abs() < 1e-6, "{:?}", &l[35..]);
    // The trainer reports the schedule's rate per epoch.
    let f = fit(&Hyperparams { batch_size: 40, ..stair_like() }, &line(400), None, &opts(), &mut |_| Control::Continue).unwrap();
    assert!(f.history[0].learning_rate > f.history[2].learning_rate);
}

fn stair_like() -> Hyperparams {
    Hyperparams { layers: 0, schedule: Schedule::Step, step_size: 1, gamma: 0.5, epochs: 3, optimizer: OptimizerKind::Sgd, learning_rate: 0.1, ..Hyperparams::default() }
}

#[test]
fn patience_stops_and_keeps_the_best_epoch_and_callbacks_can_stop() {
    let (train, val) = (blobs(200, 1), blobs(100, 2));
    // A learning rate of 0 is refused; a tiny one makes no progress, so the
    // best epoch stays early and patience ends training.
    let hp = Hyperparams { units: 4, epochs: 30, patience: Some(2), learning_rate: 1e-9, batch_size: 50, ..Hyperparams::default() };
    let f = fit(&hp, &train, Some(&val), &opts(), &mut |_| Control::Continue).unwrap();
    assert_eq!(f.stop, StopReason::EarlyStopped);
    assert!(f.history.len() < 30);
    let best = f.best_epoch.unwrap();
    assert_eq!(f.objective(), f.history[best - 1].val_accuracy);
    let mut seen = 0;
    let f = fit(&Hyperparams { patience: None, ..hp }, &train, Some(&val), &opts(), &mut |m| {
        seen = m.epoch;
        if m.epoch == 3 { Control::Stop } else { Control::Continue }
    })
    .unwrap();
    assert_eq!((f.stop, f.history.len(), seen), (StopReason::Stopped, 3, 3));
}

#[test]
fn a_diverging_run_is_an_error_not_a_panic() {
    let hp = Hyperparams { layers: 0, optimizer: OptimizerKind::Sgd, learning_rate: 1e6, epochs: 3, batch_size: 8, ..Hyperparams::default() };
    let mut ds = line(64);
    ds.features.iter_mut().for_each(|x| *x *= 1e3);
    let e = fit(&hp, &ds, None, &opts(), &mut |_| Control::Continue).unwrap_err().to_string();
    assert!(e.contains("diverged") && e.contains("lower learning rate"), "{e}");
}
