//! The three plots come out as a PNG that decodes at the requested size with drawn text, and
//! as SVG that parses as XML and carries the expected labels.

use std::path::Path;

use o1p_eval::{
    DifficultyGrouping, EvalError, EvalRecord, PlotSize, difficulty_breakdown, length_quartiles,
    plot_length_by_difficulty, plot_length_histograms, plot_quartile_accuracy,
};

/// 20 problems x 8 samples; the pruned run is shorter and a little more accurate.
fn run(scale: f64, bonus: usize) -> Vec<EvalRecord> {
    let mut out = Vec::new();
    for p in 0..20usize {
        for i in 0..8usize {
            let len = ((200 + 40 * p + 90 * i) as f64 * scale) as usize;
            out.push(EvalRecord {
                problem_id: format!("p{p}"),
                sample_index: i,
                correct: i + bonus < 6 && p % 4 != 3,
                extracted: Some("1".into()),
                num_tokens: len,
                finish_reason: "eos".into(),
                level: Some(format!("Level {}", 1 + p % 5)),
                difficulty: None,
                reference_accuracy: Some((p % 5) as f64 / 4.0),
            });
        }
    }
    out
}

fn png_size_and_ink(path: &Path) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let dark = buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|px| px.iter().take(3).all(|&c| c < 60))
        .count();
    (info.width, info.height, dark)
}

fn svg_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn all_plots_render_as_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let before = run(1.0, 0);
    let after = run(0.6, 1);
    let size = PlotSize {
        width: 640,
        height: 400,
    };

    let lengths = |r: &[EvalRecord]| r.iter().map(|r| r.num_tokens).collect::<Vec<_>>();
    let (lb, la) = (lengths(&before), lengths(&after));
    let hist = [("base", &lb[..]), ("pruned", &la[..])];

    let qb = length_quartiles(&before).unwrap();
    let qa = length_quartiles(&after).unwrap();
    let quart = [("base", &qb), ("pruned", &qa)];

    let db = difficulty_breakdown(&before, &DifficultyGrouping::Level).unwrap();
    let da = difficulty_breakdown(&after, &DifficultyGrouping::Level).unwrap();
    let diff = [("base", &db), ("pruned", &da)];

    for ext in ["png", "svg"] {
        let h = dir.path().join(format!("lengths.{ext}"));
        let q = dir.path().join(format!("quartiles.{ext}"));
        let d = dir.path().join(format!("difficulty.{ext}"));
        plot_length_histograms(&h, &hist, 30, size).unwrap();
        plot_quartile_accuracy(&q, &quart, size).unwrap();
        plot_length_by_difficulty(&d, &diff, size).unwrap();

        if ext == "png" {
            for p in [&h, &q, &d] {
                let (w, ht, dark) = png_size_and_ink(p);
                assert_eq!((w, ht), (640, 400), "{}", p.display());
                // Axes, ticks and text: black pixels exist (fonts did render something).
                assert!(dark > 500, "{}: only {dark} dark pixels", p.display());
            }
        } else {
            let t = svg_text(&h);
            assert!(t.contains("Response length distribution"), "{t}");
            assert!(t.contains("response length (tokens)"));
            assert!(t.contains("base (mean"));
            assert!(t.contains("pruned (mean"));
            let t = svg_text(&q);
            assert!(
                t.contains("Q1 (shortest)") && t.contains("Q4 (longest)"),
                "{t}"
            );
            assert!(t.contains("accuracy (%)"));
            let t = svg_text(&d);
            assert!(t.contains("Level 1") && t.contains("Level 5"), "{t}");
            assert!(t.contains("mean length (tokens)"));
        }
    }
}

#[test]
fn accuracy_against_length_labels_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let point = |label: &str, mean_tokens, accuracy| o1p_eval::AccuracyLengthPoint {
        label: label.into(),
        mean_tokens,
        accuracy,
    };
    let points = [
        point("base", 88.0, 90.0),
        point("o1-pruner", 31.0, 91.0),
        point("cosine", 60.5, 84.2),
    ];
    let svg = dir.path().join("tradeoff.svg");
    o1p_eval::plot_accuracy_vs_length(&svg, "Rewards on demo-test", &points, PlotSize::default())
        .unwrap();
    let t = svg_text(&svg);
    for needle in [
        "Rewards on demo-test",
        "base",
        "o1-pruner",
        "cosine",
        "accuracy (%)",
    ] {
        assert!(t.contains(needle), "{needle}: {t}");
    }
    let png = dir.path().join("tradeoff.png");
    o1p_eval::plot_accuracy_vs_length(&png, "t", &points, PlotSize::default()).unwrap();
    assert!(png_size_and_ink(&png).2 > 500);
    assert!(matches!(
        o1p_eval::plot_accuracy_vs_length(&png, "t", &[], PlotSize::default()),
        Err(EvalError::Empty { .. })
    ));
    let nan = [point("x", f64::NAN, 1.0)];
    assert!(o1p_eval::plot_accuracy_vs_length(&png, "t", &nan, PlotSize::default()).is_err());
}

#[test]
fn text_is_rasterised_into_the_png() {
    // The same chart with and without a caption-sized title differs in dark pixels only if
    // glyphs are really drawn; compare a histogram against a blank-labelled one via labels.
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.png");
    let long = dir.path().join("long.png");
    let l = [100usize, 200, 300];
    plot_length_histograms(&short, &[("a", &l[..])], 10, PlotSize::default()).unwrap();
    let name = "a run label long enough to need many glyphs";
    plot_length_histograms(&long, &[(name, &l[..])], 10, PlotSize::default()).unwrap();
    let (_, _, dark_short) = png_size_and_ink(&short);
    let (_, _, dark_long) = png_size_and_ink(&long);
    assert!(dark_long > dark_short + 200, "{dark_long} vs {dark_short}");
}

#[test]
fn bad_plot_requests_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let l = [1usize, 2, 3];
    let size = PlotSize::default();
    assert!(matches!(
        plot_length_histograms(dir.path().join("x.jpg"), &[("a", &l[..])], 10, size),
        Err(EvalError::UnsupportedPlotFormat { .. })
    ));
    assert!(matches!(
        plot_length_histograms(dir.path().join("x.png"), &[("a", &[][..])], 10, size),
        Err(EvalError::Empty { .. })
    ));
    assert!(plot_length_histograms(dir.path().join("x.png"), &[("a", &l[..])], 0, size).is_err());
    assert!(plot_quartile_accuracy(dir.path().join("x.svg"), &[], size).is_err());
    // A directory that does not exist: a Plot error naming the file, not a panic.
    let err = plot_length_histograms(
        dir.path().join("no/such/dir/x.png"),
        &[("a", &l[..])],
        10,
        size,
    )
    .unwrap_err();
    assert!(err.to_string().contains("x.png"), "{err}");
}
