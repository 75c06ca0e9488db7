//! A final model on disk: `model.bpk` (Burn's burnpack record of the
//! weights) and `model.json` (hyperparameters, input standardisation, class
//! names, test metrics), enough to rebuild the network and predict.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Standardizer, Targets};
use crate::error::{Result, TrainError};
use crate::hyperparams::Hyperparams;
use crate::model::Mlp;
use crate::train::{evaluate, predict, Evaluation};

/// What `model.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The hyperparameters the model was trained with.
    pub hyperparams: Hyperparams,
    /// Inputs per row.
    pub n_features: usize,
    /// Outputs: classes, or 1 for regression.
    pub n_outputs: usize,
    /// Whether the model predicts classes (else a real value).
    pub classification: bool,
    /// Applied to raw features before the network.
    pub standardizer: Standardizer,
    /// Class labels as they appeared in the data (CSV), in output order.
    pub class_names: Vec<String>,
    /// The one evaluation on the held-out test set.
    pub test: Option<Evaluation>,
    /// Where it came from: dataset, study, trial.
    pub source: serde_json::Value,
}

/// A model ready to predict.
#[derive(Debug)]
pub struct SavedModel {
    /// What `model.json` holds.
    pub info: ModelInfo,
    /// The trained network.
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
        let x = self.standardized(features)?;
        Ok(predict(&self.model, &x, self.info.n_features, self.info.classification, &self.device))
    }

    /// Loss and accuracy on raw (unstandardised) labelled rows.
    pub fn evaluate(&self, ds: &Dataset) -> Result<Evaluation> {
        let features = self.standardized(&ds.features)?;
        Ok(evaluate(&self.model, &Dataset { features, n_features: ds.n_features, targets: ds.targets.clone() }, &self.device))
    }

    /// Target cells as a CSV holds them, as this model's targets: names of
    /// the classes it was trained on, or numbers.
    pub fn targets_from_cells(&self, cells: &[String]) -> Result<Targets> {
        if !self.info.classification {
            let values = cells
                .iter()
                .map(|c| {
                    c.parse::<f32>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| TrainError::Config(format!("target \"{c}\" is not a number (the model predicts values)")))
                })
                .collect::<Result<Vec<f32>>>()?;
            return Ok(Targets::Values(values));
        }
        let labels = cells
            .iter()
            .map(|c| {
                self.class_index(c).ok_or_else(|| {
                    TrainError::Config(format!(
                        "class \"{c}\" was not among the classes the model was trained on ({})",
                        self.class_names().join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<u32>>>()?;
        Ok(Targets::Classes { labels, n_classes: self.info.n_outputs })
    }

    /// A prediction as a person reads it: the class name, or the value.
    pub fn label(&self, prediction: f64) -> String {
        if self.info.classification {
            self.class_names().get(prediction as usize).cloned().unwrap_or_else(|| format!("{prediction}"))
        } else {
            format!("{prediction}")
        }
    }

    /// Class names (the indices as text for image sets, which have none).
    fn class_names(&self) -> Vec<String> {
        if self.info.class_names.is_empty() {
            (0..self.info.n_outputs).map(|i| i.to_string()).collect()
        } else {
            self.info.class_names.clone()
        }
    }

    fn class_index(&self, cell: &str) -> Option<u32> {
        let names = self.class_names();
        names.iter().position(|n| n == cell).or_else(|| {
            // "3" and "3.0" name the same numeric class.
            let v: f64 = cell.parse().ok()?;
            names.iter().position(|n| n.parse::<f64>().ok() == Some(v))
        })
        .map(|i| i as u32)
    }

    /// Rows checked for width and standardised as in training.
    fn standardized(&self, features: &[f32]) -> Result<Vec<f32>> {
        let d = self.info.n_features;
        if features.is_empty() || !features.len().is_multiple_of(d) {
            return Err(TrainError::Config(format!(
                "{} values are not whole rows of the {d} features the model was trained on",
                features.len()
            )));
        }
        let mut x = features.to_vec();
        for row in x.chunks_exact_mut(d) {
            for ((v, m), s) in row.iter_mut().zip(&self.info.standardizer.mean).zip(&self.info.standardizer.std) {
                *v = (*v - m) / s;
            }
        }
        Ok(x)
    }
}
