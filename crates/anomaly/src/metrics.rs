//! Detection metrics: ROC AUC (ties count one half), TPR at a benign FPR, ROC points.

/// ROC AUC of `neg` (benign) against `pos` (attack) scores; ties count one half.
pub fn auc(neg: &[f64], pos: &[f64]) -> f64 {
    if neg.is_empty() || pos.is_empty() {
        return f64::NAN;
    }
    let mut all: Vec<(f64, bool)> = neg
        .iter()
        .map(|&s| (s, false))
        .chain(pos.iter().map(|&s| (s, true)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Mann-Whitney U with mid-ranks.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0.total_cmp(&all[i].0).is_eq() {
            j += 1;
        }
        let mid = (i + j + 1) as f64 / 2.0;
        rank_sum += all[i..j].iter().filter(|x| x.1).count() as f64 * mid;
        i = j;
    }
    let np = pos.len() as f64;
    let nn = neg.len() as f64;
    (rank_sum - np * (np + 1.0) / 2.0) / (np * nn)
}

/// ROC points `(threshold, fpr, tpr)` for "alert when score >= threshold", from the highest
/// threshold down.
pub fn roc(neg: &[f64], pos: &[f64]) -> Vec<(f64, f64, f64)> {
    let mut all: Vec<(f64, bool)> = neg
        .iter()
        .map(|&s| (s, false))
        .chain(pos.iter().map(|&s| (s, true)))
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (nn, np) = (neg.len().max(1) as f64, pos.len().max(1) as f64);
    let mut out = vec![(f64::INFINITY, 0.0, 0.0)];
    let (mut fp, mut tp) = (0usize, 0usize);
    let mut i = 0;
    while i < all.len() {
        let t = all[i].0;
        while i < all.len() && all[i].0.total_cmp(&t).is_eq() {
            if all[i].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        out.push((t, fp as f64 / nn, tp as f64 / np));
    }
    out
}

/// The largest TPR whose FPR does not exceed `target`, and its threshold.
pub fn tpr_at_fpr(neg: &[f64], pos: &[f64], target: f64) -> (f64, f64) {
    let mut best = (0.0, f64::INFINITY);
    for (t, fpr, tpr) in roc(neg, pos) {
        if fpr <= target && tpr >= best.0 {
            best = (tpr, t);
        }
    }
    best
}
