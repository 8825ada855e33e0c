//! Classification metrics: confusion matrix, per-class precision/recall, accuracy with
//! abstentions, and stratified grouped folds.

/// Assigns each group (e.g. a capture file) to one of `k` folds, round-robin within each
/// label so every fold sees every class when possible. Samples of one group share a fold.
pub fn grouped_folds(groups: &[String], labels: &[usize], k: usize) -> Vec<usize> {
    let k = k.max(2);
    let mut by_group: std::collections::BTreeMap<(usize, &str), usize> = Default::default();
    for (g, l) in groups.iter().zip(labels) {
        by_group.entry((*l, g.as_str())).or_insert(0);
    }
    let mut per_label_counter: std::collections::BTreeMap<usize, usize> = Default::default();
    for ((l, _), fold) in by_group.iter_mut() {
        let c = per_label_counter.entry(*l).or_insert(0);
        *fold = *c % k;
        *c += 1;
    }
    groups
        .iter()
        .zip(labels)
        .map(|(g, l)| by_group[&(*l, g.as_str())])
        .collect()
}

/// Results of a classification run. `None` predictions are abstentions.
#[derive(Debug, Clone)]
pub struct Confusion {
    pub classes: Vec<String>,
    /// `m[truth][predicted]`; the extra last column counts abstentions.
    pub m: Vec<Vec<u64>>,
}

impl Confusion {
    pub fn new(classes: Vec<String>) -> Self {
        let n = classes.len();
        Confusion {
            classes,
            m: vec![vec![0; n + 1]; n],
        }
    }

    pub fn add(&mut self, truth: usize, predicted: Option<usize>) {
        let n = self.classes.len();
        if let Some(row) = self.m.get_mut(truth) {
            row[predicted.filter(|p| *p < n).unwrap_or(n)] += 1;
        }
    }

    pub fn total(&self) -> u64 {
        self.m.iter().flatten().sum()
    }

    pub fn abstained(&self) -> u64 {
        let n = self.classes.len();
        self.m.iter().map(|r| r[n]).sum()
    }

    pub fn correct(&self) -> u64 {
        (0..self.classes.len()).map(|i| self.m[i][i]).sum()
    }

    /// Correct / all samples (abstentions count as errors).
    pub fn accuracy(&self) -> f64 {
        self.correct() as f64 / self.total().max(1) as f64
    }

    /// Correct / answered samples.
    pub fn accuracy_answered(&self) -> f64 {
        self.correct() as f64 / (self.total() - self.abstained()).max(1) as f64
    }

    /// Mean of per-class recall over classes that have samples.
    pub fn macro_recall(&self) -> f64 {
        let rs: Vec<f64> = (0..self.classes.len())
            .filter_map(|i| self.recall(i))
            .collect();
        rs.iter().sum::<f64>() / rs.len().max(1) as f64
    }

    pub fn recall(&self, i: usize) -> Option<f64> {
        let row: u64 = self.m.get(i)?.iter().sum();
        (row > 0).then(|| self.m[i][i] as f64 / row as f64)
    }

    pub fn precision(&self, i: usize) -> Option<f64> {
        let col: u64 = self.m.iter().map(|r| r[i]).sum();
        (col > 0).then(|| self.m[i][i] as f64 / col as f64)
    }

    /// Pairs of classes confused with each other in at least `min_rate` of either's samples.
    pub fn confused_pairs(&self, min_rate: f64) -> Vec<(usize, usize, u64, u64)> {
        let n = self.classes.len();
        let mut out = Vec::new();
        for a in 0..n {
            for b in a + 1..n {
                let (ab, ba) = (self.m[a][b], self.m[b][a]);
                let ra: u64 = self.m[a].iter().sum();
                let rb: u64 = self.m[b].iter().sum();
                let rate = (ab as f64 / ra.max(1) as f64).max(ba as f64 / rb.max(1) as f64);
                if ab + ba > 0 && rate >= min_rate {
                    out.push((a, b, ab, ba));
                }
            }
        }
        out
    }

    /// CSV with a header row; the last column is abstentions.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("truth");
        for c in &self.classes {
            s.push(',');
            s.push_str(c);
        }
        s.push_str(",abstained\n");
        for (i, row) in self.m.iter().enumerate() {
            s.push_str(&self.classes[i]);
            for v in row {
                s.push(',');
                s.push_str(&v.to_string());
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_metrics() {
        let mut c = Confusion::new(vec!["a".into(), "b".into()]);
        c.add(0, Some(0));
        c.add(0, Some(1));
        c.add(1, Some(1));
        c.add(1, None);
        assert_eq!(c.total(), 4);
        assert_eq!(c.abstained(), 1);
        assert!((c.accuracy() - 0.5).abs() < 1e-9);
        assert!((c.accuracy_answered() - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(c.recall(0), Some(0.5));
        assert_eq!(c.precision(1), Some(0.5));
        assert_eq!(c.confused_pairs(0.3), vec![(0, 1, 1, 0)]);
        assert!(c.to_csv().starts_with("truth,a,b,abstained\na,1,1,0\n"));
    }

    #[test]
    fn folds_keep_groups_together_and_spread_labels() {
        let groups: Vec<String> = ["g1", "g1", "g2", "g3", "g4", "g5"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let labels = vec![0, 0, 0, 0, 1, 1];
        let f = grouped_folds(&groups, &labels, 2);
        assert_eq!(f[0], f[1]);
        assert_ne!(f[4], f[5]);
        assert!(f.iter().all(|x| *x < 2));
    }
}
