//! A final model on disk: `model.bpk` (Burn's burnpack record of the
//! weights) and `model.json` (hyperparameters, input standardisation, class
//! names, test metrics), enough to rebuild the network and predict.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::data::Standardizer;
use crate::error::{Result, TrainError};
use crate::hyperparams::Hyperparams;
use crate::model::Mlp;
use crate::train::{predict, Evaluation};

/// What `model.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub hyperparams: Hyperparams,
    pub n_features: usize,
    pub n_outputs: usize,
    pub classification: bool,
    /// Applied to raw features before the network.
    pub standardizer: Standardizer,
    pub class_names: Vec<String>,
    /// The one evaluation on the held-out test set.
    pub test: Option<Evaluation>,
    /// Where it came from: dataset, study, trial.
    pub source: serde_json::Value,
}

/// A model ready to predict.
#[derive(Debug)]
pub struct SavedModel {
    pub info: ModelInfo,
    pub model: Mlp,
    device: Device,
}

fn weights_path(dir: &Path) -> PathBuf {
    dir.join("model.bpk")
}

fn info_path(dir: &Path) -> PathBuf {
    dir.join("model.json")
}

/// Writes the model into `dir` (created if needed).
pub fn save(dir: &Path, model: &Mlp, info: &ModelInfo) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    model
        .clone()
        .save_file(weights_path(dir))
        .map_err(|e| TrainError::Model { path: weights_path(dir).display().to_string(), message: e.to_string() })?;
    let json = serde_json::to_string_pretty(info).expect("model info serializes");
    std::fs::write(info_path(dir), json).map_err(|e| TrainError::io(&info_path(dir), e))
}

impl SavedModel {
    /// Loads a model saved by [`save`].
    pub fn load(dir: &Path, device: &Device) -> Result<SavedModel> {
        let ip = info_path(dir);
        let text = std::fs::read_to_string(&ip).map_err(|e| TrainError::io(&ip, e))?;
        let info: ModelInfo =
            serde_json::from_str(&text).map_err(|e| TrainError::Model { path: ip.display().to_string(), message: e.to_string() })?;
        let skeleton = Mlp::new(
            &info.hyperparams,
            info.n_features,
            info.n_outputs,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(0),
            device,
        );
        let wp = weights_path(dir);
        let model = skeleton
            .try_load_file(&wp)
            .map_err(|e| TrainError::Model { path: wp.display().to_string(), message: e.to_string() })?;
        Ok(SavedModel { info, model, device: device.clone() })
    }

    /// Predicts raw (unstandardised) rows: class indices or values.
    pub fn predict(&self, features: &[f32]) -> Result<Vec<f64>> {
        let d = self.info.n_features;
        if features.len() % d != 0 {
            return Err(TrainError::Config(format!("{} values is not a whole number of rows of {d} features", features.len())));
        }
        let mut x = features.to_vec();
        for row in x.chunks_exact_mut(d) {
            for ((v, m), s) in row.iter_mut().zip(&self.info.standardizer.mean).zip(&self.info.standardizer.std) {
                *v = (*v - m) / s;
            }
        }
        Ok(predict(&self.model, &x, d, self.info.classification, &self.device))
    }
}
