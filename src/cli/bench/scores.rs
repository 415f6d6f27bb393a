//! How alike a decoded picture is to its source: PSNR and SSIM of the luma planes.

/// PSNR reported for identical planes.
pub const MAX_PSNR: f64 = 99.0;

/// PSNR in dB of two 8-bit planes of the same size; [`MAX_PSNR`] when identical.
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let sse: u64 = a.iter().zip(b).map(|(&x, &y)| (x.abs_diff(y) as u64).pow(2)).sum();
    let mse = sse as f64 / a.len().min(b.len()).max(1) as f64;
    if sse == 0 {
        MAX_PSNR
    } else {
        (10.0 * (255.0 * 255.0 / mse).log10()).min(MAX_PSNR)
    }
}

/// Mean SSIM of two 8-bit `width`x`height` planes over non-overlapping 8x8 blocks (C1 =
/// (0.01·255)², C2 = (0.03·255)²); partial blocks at the right and bottom are left out.
pub fn ssim(a: &[u8], b: &[u8], width: usize, height: usize) -> f64 {
    const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
    const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);
    let (mut sum, mut blocks) = (0.0, 0usize);
    for by in (0..height / 8 * 8).step_by(8) {
        for bx in (0..width / 8 * 8).step_by(8) {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0u64, 0u64, 0u64, 0u64, 0u64);
            for i in (by..by + 8).flat_map(|y| y * width + bx..y * width + bx + 8) {
                let (p, q) = (a[i] as u64, b[i] as u64);
                (sa, sb, saa, sbb, sab) = (sa + p, sb + q, saa + p * p, sbb + q * q, sab + p * q);
            }
            let (ma, mb) = (sa as f64 / 64.0, sb as f64 / 64.0);
            let (va, vb) = (saa as f64 / 64.0 - ma * ma, sbb as f64 / 64.0 - mb * mb);
            let cov = sab as f64 / 64.0 - ma * mb;
            sum += (2.0 * ma * mb + C1) * (2.0 * cov + C2) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
            blocks += 1;
        }
    }
    if blocks == 0 {
        1.0
    } else {
        sum / blocks as f64
    }
}
