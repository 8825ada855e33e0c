use super::*;

#[test]
fn missing_file_is_unusable_with_a_warning() {
    let out = analyze(
        &[PathBuf::from("/nonexistent/palisade-test.pcap")],
        &AnalyzeOptions::default(),
        Box::new(NullSink),
        None,
    );
    assert_eq!(out.unusable_inputs, 1);
    assert_eq!(out.report.inputs[0].warnings.len(), 1);
    assert_eq!(out.report.summary.packets, 0);
}
