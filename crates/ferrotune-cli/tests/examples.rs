//! The trainer examples stay valid: their [trainer] tables parse, and every
//! point of their search spaces (with the fixed params) makes valid
//! hyperparameters, so a study never fails on a typo in a parameter name.

use std::path::Path;

use ferrotune::study_file::{ObjectiveKind, StudyFile};
use ferrotune::Study;
use ferrotune_train::task::TaskSpec;
use ferrotune_train::Hyperparams;

#[test]
fn trainer_examples_make_valid_hyperparameters_everywhere() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for name in ["examples/mnist-mlp.toml", "examples/fashion-mnist-mlp.toml"] {
        let file = StudyFile::load(&root.join(name)).unwrap();
        let ObjectiveKind::Trainer(spec) = &file.objective else { panic!("{name}: not a [trainer] study") };
        let spec = TaskSpec::from_json(spec.clone(), &file.base_dir()).unwrap();
        let study = Study::builder("check").create().unwrap();
        for _ in 0..200 {
            let mut t = study.ask().unwrap();
            let params = file.space.suggest_all(&mut t).unwrap();
            let mut m = spec.params.clone();
            for (k, v) in serde_json::to_value(&params).unwrap().as_object().unwrap() {
                m.insert(k.clone(), v.clone());
            }
            if let Err(e) = Hyperparams::from_json(&m) {
                panic!("{name}: {params:?}: {e}");
            }
            study.tell(t.number(), ferrotune::TellOutcome::Values(vec![0.5])).unwrap();
        }
    }
}
