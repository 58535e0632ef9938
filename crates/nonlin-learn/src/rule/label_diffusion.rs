//! The Gaussian label-noise process of NoProp (Li, Teh, Pascanu, arXiv 2503.24322), shared by
//! its discrete- and continuous-time rules. NoProp indexing: `z_0` is pure noise, `z_T` is (close
//! to) the label embedding `u_y`, and with `alpha_bar_t = prod_{s=t}^{T} alpha_s` (increasing in t)
//!
//! `q(z_t | y) = N(sqrt(alpha_bar_t) u_y, (1 - alpha_bar_t) I)`,
//! `q(z_{t-1} | z_t) = N(sqrt(alpha_{t-1}) z_t, (1 - alpha_{t-1}) I)`,
//!
//! so the posterior of the cleaner `z_t` given the noisier `z_{t-1}` and the label is
//! `q(z_t | z_{t-1}, y) = N(a_t u_y + b_t z_{t-1}, c_t I)` with
//!
//! `a_t = sqrt(alpha_bar_t) (1 - alpha_{t-1}) / (1 - alpha_bar_{t-1})`,
//! `b_t = sqrt(alpha_{t-1}) (1 - alpha_bar_t) / (1 - alpha_bar_{t-1})`,
//! `c_t = (1 - alpha_bar_t) (1 - alpha_{t-1}) / (1 - alpha_bar_{t-1})`,
//!
//! `alpha_{t-1} = alpha_bar_{t-1} / alpha_bar_t`. The signal-to-noise ratio is
//! `SNR(t) = alpha_bar_t / (1 - alpha_bar_t)`.

/// The posterior coefficients `(a_t, b_t, c_t)` from `alpha_bar_{t-1}` (noisier) and
/// `alpha_bar_t` (cleaner).
pub fn posterior(alpha_bar_prev: f64, alpha_bar: f64) -> (f64, f64, f64) {
    let alpha_prev = alpha_bar_prev / alpha_bar;
    let denom = 1.0 - alpha_bar_prev;
    let a = alpha_bar.sqrt() * (1.0 - alpha_prev) / denom;
    let b = alpha_prev.sqrt() * (1.0 - alpha_bar) / denom;
    let c = (1.0 - alpha_bar) * (1.0 - alpha_prev) / denom;
    (a, b, c)
}

/// `SNR = alpha_bar / (1 - alpha_bar)`.
pub fn snr(alpha_bar: f64) -> f64 {
    alpha_bar / (1.0 - alpha_bar)
}

/// `alpha_bar_0 .. alpha_bar_T` of the cosine schedule of Nichol and Dhariwal (arXiv 2102.09672)
/// with the time axis reversed (NoProp's `z_T` is the clean end): `alpha_bar_t = f(T - t) /
/// f(0)`, `f(s) = cos^2(((s / T) + offset) / (1 + offset) * pi / 2)`, then clamped to
/// `[0, max]` (the clean end would be exactly 1, where the SNR is infinite).
pub fn cosine_alpha_bars(steps: usize, offset: f64, max: f64) -> Vec<f64> {
    let f = |s: f64| {
        let angle = ((s / steps as f64) + offset) / (1.0 + offset) * std::f64::consts::FRAC_PI_2;
        angle.cos().powi(2)
    };
    (0..=steps)
        .map(|t| (f((steps - t) as f64) / f(0.0)).clamp(0.0, max))
        .collect()
}

/// `KL(N(sqrt(a) u, (1 - a) I) || N(0, I))` in `d` dimensions for `|u|^2 = norm_sq`:
/// `(a |u|^2 + d (1 - a) - d - d ln(1 - a)) / 2`.
pub fn kl_to_standard(alpha_bar: f64, norm_sq: f64, d: usize) -> f64 {
    let d = d as f64;
    0.5 * (alpha_bar * norm_sq + d * (1.0 - alpha_bar) - d - d * (1.0 - alpha_bar).ln())
}

#[cfg(test)]
mod tests {
    use nonlin_data::Rng;

    use super::*;

    /// The posterior coefficients against a Monte Carlo estimate: draw the clean `z_t ~
    /// q(z_t | y)` and the noisier `z_{t-1} = sqrt(alpha_{t-1}) z_t + sqrt(1 - alpha_{t-1}) eps`,
    /// regress `z_t` on `z_{t-1}`: slope b_t, intercept a_t u, residual variance c_t (within 2%).
    /// A swapped or mistyped coefficient is off by far more (b_10 = 0.035, a_10 = 0.964).
    #[test]
    fn posterior_coefficients_match_a_monte_carlo_estimate() {
        let bars = cosine_alpha_bars(10, 0.008, 0.999);
        let mut rng = Rng::seed(11);
        let u = 1.3;
        for t in [1, 3, 5, 8, 10] {
            let (a, b, c) = posterior(bars[t - 1], bars[t]);
            let alpha_prev = bars[t - 1] / bars[t];
            let n = 400_000;
            let (mut sx, mut sy, mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for _ in 0..n {
                let zt = bars[t].sqrt() * u + (1.0 - bars[t]).sqrt() * rng.normal_f32() as f64;
                let zp =
                    alpha_prev.sqrt() * zt + (1.0 - alpha_prev).sqrt() * rng.normal_f32() as f64;
                sx += zp;
                sy += zt;
                sxx += zp * zp;
                sxy += zp * zt;
                syy += zt * zt;
            }
            let nf = n as f64;
            let (mx, my) = (sx / nf, sy / nf);
            let vx = sxx / nf - mx * mx;
            let cov = sxy / nf - mx * my;
            let vy = syy / nf - my * my;
            let slope = cov / vx;
            let intercept = my - slope * mx;
            let residual = vy - slope * cov;
            let close = |est: f64, exact: f64, what: &str| {
                assert!(
                    // 2% of the value, plus 2e-3 for coefficients near 0 (b_1 is 4e-16; the
                    // sampling error of 400,000 draws is about 1e-3)
                    (est - exact).abs() <= 0.02 * exact.abs() + 2e-3,
                    "t = {t}: {what} estimated {est}, formula {exact}"
                );
            };
            close(slope, b, "b");
            close(intercept, a * u, "a u");
            close(residual, c, "c");
        }
    }

    /// The reversed cosine schedule by hand for T = 10 and its SNR strictly increasing.
    #[test]
    fn cosine_schedule_by_hand_and_snr_increasing() {
        let bars = cosine_alpha_bars(10, 0.008, 0.999);
        assert_eq!(bars.len(), 11);
        // t = 9: s = 1, angle (0.1 + 0.008) / 1.008 * pi/2 = 0.168300; cos^2 = 0.971942;
        // f(0) = cos^2(0.008 / 1.008 * pi/2) = cos^2(0.012467) = 0.999845 -> 0.972093
        assert!((bars[9] - 0.972093).abs() < 1e-5, "{}", bars[9]);
        // t = 10 is clamped at 0.999; t = 0 is cos^2(pi/2) = 0 (to 1e-30)
        assert_eq!(bars[10], 0.999);
        assert!(bars[0] < 1e-30);
        let snrs: Vec<f64> = bars.iter().map(|&a| snr(a)).collect();
        assert!(snrs.windows(2).all(|w| w[1] > w[0]), "{snrs:?}");
    }

    /// The KL divergence by hand: a = 0.5, |u|^2 = 1, d = 2: (0.5 + 1 - 2 - 2 ln 0.5) / 2 =
    /// (-0.5 + 1.386294) / 2 = 0.443147; it is 0 for a = 0.
    #[test]
    fn kl_by_hand() {
        assert!((kl_to_standard(0.5, 1.0, 2) - 0.443147).abs() < 1e-6);
        assert_eq!(kl_to_standard(0.0, 5.0, 3), 0.0);
    }
}
