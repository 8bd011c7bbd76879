//! Corrupted checkpoints resumed with `awpo train --resume`: a `latest` pointer to nothing, a
//! truncated adapter, optimizer moments that are not 2-D, lack their partner or belong to no
//! parameter, a garbage `state.json`. The run directory must be left as it was (no new
//! checkpoint, metrics not truncated), so a fixed checkpoint can still be resumed.

use std::path::{Path, PathBuf};

use safetensors::SafeTensors;

use super::cases::{Battery, arg, args, garbage, run, temp};

/// A finished one-step run of the built-in model with a checkpoint at step 1.
fn finished_run(root: &Path) -> PathBuf {
    let dir = root.join("original");
    let mut argv = args(&["train", "--device", "cpu"]);
    for set in [
        "train.sft_steps=2",
        "train.sft_batch=4",
        "rollout.prompts_per_step=2",
        "rollout.group_size=2",
        "rollout.max_new_tokens=8",
        "data.builtin_train=16",
        "data.builtin_held_out=2",
        "optim.micro_batch=2",
        "train.steps=1",
        "train.save_every=1",
    ] {
        argv.extend(args(&["--set", set]));
    }
    argv.extend(args(&["--set", &format!("train.run_dir={:?}", arg(&dir))]));
    let ran = run(&argv, std::time::Duration::from_secs(600)).unwrap_or_else(|e| panic!("the run: {e}"));
    assert_eq!(ran.code, Some(0), "the run that makes the checkpoint: {}", ran.stderr);
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// Every file under `dir` with its bytes (what must not change when a resume is refused;
/// `config.toml` is rewritten by every start and left out).
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n != "config.toml") {
                out.push((path.clone(), std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

/// The optimizer tensors of `file` as `(name, shape, f32 values)`.
fn optimizer(file: &Path) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(file).expect("read");
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    let mut out: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            (name, view.shape().to_vec(), values)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn corrupted_checkpoints_are_refused_on_resume_and_left_as_they_were() {
    let root = temp("checkpoint");
    let original = finished_run(&root);
    let latest = std::fs::read_to_string(original.join("checkpoints/latest")).expect("latest");
    let step = original.join("checkpoints").join(latest.trim());
    let moments = optimizer(&step.join("optimizer.safetensors"));
    assert!(moments.len() >= 4 && moments.iter().all(|m| m.1.len() == 2), "2-D moments: {}", moments.len());
    let mut battery = Battery::default();
    type Corrupt<'a> = Box<dyn Fn(&Path) -> Vec<String> + 'a>;
    let rel = |p: &str| -> PathBuf { PathBuf::from("checkpoints").join(latest.trim()).join(p) };
    let write_moments = |dir: &Path, tensors: Vec<(String, Vec<usize>, Vec<f32>)>| {
        awpo::model::weights::save(&dir.join(rel("optimizer.safetensors")), &tensors).expect("save");
    };
    let first = moments[0].0.clone();
    let cases: Vec<(&str, Corrupt)> = vec![
        (
            "a latest pointer to a missing checkpoint",
            Box::new(|d| {
                std::fs::write(d.join("checkpoints/latest"), "step-99").expect("write");
                vec![arg(&d.join("checkpoints/step-99"))]
            }),
        ),
        (
            "a latest pointer out of the run",
            Box::new(|d| {
                std::fs::write(d.join("checkpoints/latest"), "../../etc").expect("write");
                vec![arg(&d.join("checkpoints/latest"))]
            }),
        ),
        (
            "an empty latest pointer",
            Box::new(|d| {
                std::fs::write(d.join("checkpoints/latest"), "").expect("write");
                vec![arg(&d.join("checkpoints/latest"))]
            }),
        ),
        (
            "a state.json of garbage",
            Box::new(|d| {
                std::fs::write(d.join(rel("state.json")), garbage(200, 9)).expect("write");
                vec![arg(&d.join(rel("state.json")))]
            }),
        ),
        (
            "a truncated adapter_model.safetensors",
            Box::new(|d| {
                let file = d.join(rel("adapter/adapter_model.safetensors"));
                let bytes = std::fs::read(&file).expect("read");
                std::fs::write(&file, &bytes[..bytes.len() * 2 / 3]).expect("write");
                vec![arg(&file)]
            }),
        ),
        (
            "a 0-byte optimizer.safetensors",
            Box::new(|d| {
                std::fs::write(d.join(rel("optimizer.safetensors")), b"").expect("write");
                vec![arg(&d.join(rel("optimizer.safetensors")))]
            }),
        ),
        (
            "a 3-D optimizer moment",
            Box::new(|d| {
                let mut m = moments.clone();
                m[0].1 = vec![1, m[0].1[0], m[0].1[1]];
                write_moments(d, m);
                vec![arg(&d.join(rel("optimizer.safetensors"))), first.clone()]
            }),
        ),
        (
            "a 1-D optimizer moment",
            Box::new(|d| {
                let mut m = moments.clone();
                m[0].1 = vec![m[0].2.len()];
                write_moments(d, m);
                vec![arg(&d.join(rel("optimizer.safetensors"))), first.clone()]
            }),
        ),
        (
            "a moment without its partner",
            Box::new(|d| {
                let m = moments.iter().filter(|t| t.0 != first).cloned().collect();
                write_moments(d, m);
                vec![arg(&d.join(rel("optimizer.safetensors"))), "partner".into()]
            }),
        ),
        (
            "a moment of a parameter the model does not have",
            Box::new(|d| {
                let mut m = moments.clone();
                let name = "model.layers.77.mlp.up_proj.lora_A.exp_avg".to_string();
                m.push((name.clone(), m[0].1.clone(), m[0].2.clone()));
                write_moments(d, m);
                vec![arg(&d.join(rel("optimizer.safetensors"))), name]
            }),
        ),
        (
            "a moment of absurd shape",
            Box::new(|d| {
                let file = d.join(rel("optimizer.safetensors"));
                let header = format!(
                    r#"{{"{first}":{{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}}}}"#
                );
                let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
                bytes.extend(header.as_bytes());
                bytes.extend([0u8; 4]);
                std::fs::write(&file, bytes).expect("write");
                vec![arg(&file), first.clone()]
            }),
        ),
    ];
    let intact = root.join("intact");
    copy_dir(&original, &intact);
    let resume = |dir: &Path| args(&["train", "--device", "cpu", "--resume", &arg(dir)]);
    battery.case(
        "the intact copy resumes",
        run(&resume(&intact), super::cases::LIMIT).and_then(|r| {
            if r.code == Some(0) { Ok(()) } else { Err(format!("the intact checkpoint does not resume: {}", r.stderr)) }
        }),
    );
    for (i, (name, corrupt)) in cases.into_iter().enumerate() {
        let dir = root.join(format!("case-{i}"));
        copy_dir(&original, &dir);
        let needles = corrupt(&dir);
        let before = snapshot(&dir);
        battery.refused(name, &resume(&dir), &needles, || {
            let after = snapshot(&dir);
            if after == before {
                return Ok(());
            }
            let changed: Vec<_> =
                after.iter().filter(|f| !before.contains(f)).map(|f| f.0.display().to_string()).collect();
            Err(format!("the run directory changed: {changed:?} (or files were removed)"))
        });
    }
    let _ = std::fs::remove_dir_all(root);
    battery.finish();
}
