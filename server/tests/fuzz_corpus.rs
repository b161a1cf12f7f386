//! Replays the fuzz corpus (fuzz/corpus/frames) through the frame decoder and op
//! dispatch on stable Rust, so every input the fuzzer ever kept stays a regression test.

use canopy_server::fuzzing::FrameHarness;

#[test]
fn every_corpus_frame_gets_one_well_formed_reply() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/frames");
    let mut inputs: Vec<_> = std::fs::read_dir(&corpus)
        .expect("the fuzz corpus is in the repository")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= 40,
        "the corpus lost its seeds: {}",
        inputs.len()
    );
    let mut harness = FrameHarness::new();
    for path in &inputs {
        let bytes = std::fs::read(path).expect("readable corpus file");
        if let Err(broken) = harness.check(&bytes) {
            panic!("{}: {broken}", path.display());
        }
    }
}
