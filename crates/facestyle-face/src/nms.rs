//! Greedy non-maximum suppression over scored boxes (as OpenCV's `NMSBoxes`).

/// Intersection over union of two `[x, y, w, h]` boxes.
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let ix = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
    let iy = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
    if ix <= 0.0 || iy <= 0.0 {
        return 0.0;
    }
    let inter = ix * iy;
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Indices of the boxes kept: highest score first, at most `top_k` candidates considered,
/// each kept box suppressing later ones that overlap it by more than `iou_threshold`; at most
/// `max_keep` kept (the first ones, so the best).
pub fn nms(
    boxes: &[[f32; 4]],
    scores: &[f32],
    iou_threshold: f32,
    top_k: usize,
    max_keep: usize,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
    order.truncate(top_k);
    let mut keep: Vec<usize> = Vec::new();
    for i in order {
        if keep.len() >= max_keep {
            break;
        }
        if keep.iter().all(|&k| iou(&boxes[k], &boxes[i]) <= iou_threshold) {
            keep.push(i);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_known_boxes() {
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[0.0, 0.0, 10.0, 10.0]), 1.0);
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[20.0, 0.0, 10.0, 10.0]), 0.0);
        // half overlap: inter 50, union 150
        assert!((iou(&[0.0, 0.0, 10.0, 10.0], &[5.0, 0.0, 10.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn keeps_best_of_overlapping_and_separate_boxes() {
        let boxes = [
            [0.0, 0.0, 10.0, 10.0],
            [1.0, 1.0, 10.0, 10.0],
            [50.0, 50.0, 10.0, 10.0],
            [0.5, 0.0, 10.0, 10.0],
        ];
        let scores = [0.8, 0.95, 0.7, 0.9];
        assert_eq!(nms(&boxes, &scores, 0.3, 100, 100), vec![1, 2]);
        assert_eq!(nms(&boxes, &scores, 0.3, 1, 100), vec![1]);
        assert_eq!(nms(&boxes, &scores, 0.99, 100, 100), vec![1, 3, 0, 2]);
        assert_eq!(nms(&boxes, &scores, 0.99, 100, 2), vec![1, 3]);
        assert_eq!(nms(&boxes, &scores, 0.3, 100, 0), Vec::<usize>::new());
    }
}
