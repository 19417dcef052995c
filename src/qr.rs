//! The printable binding card: a woman's WeChat QR code with her name and
//! the office's instructions under it, as a PNG an officer prints and hands
//! over at the first check-up.

use ab_glyph::{Font, FontVec, PxScale, ScaleFont};
use image::{GrayImage, Luma};
use std::path::{Path, PathBuf};

/// Fonts with Chinese glyphs, where Debian and other systems put them.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "C:\\Windows\\Fonts\\msyh.ttc",
];

const WIDTH: u32 = 640;
const MARGIN: u32 = 40;

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("QR code: {0}")]
    Qr(String),
    #[error("wechat.qr_font: {0}")]
    Font(String),
    #[error("PNG: {0}")]
    Png(String),
}

/// The first configured or known font that has every character of `text`.
fn find_font(configured: &str, text: &str) -> Result<FontVec, CardError> {
    let candidates: Vec<PathBuf> = if configured.is_empty() {
        FONT_PATHS.iter().map(PathBuf::from).collect()
    } else {
        vec![PathBuf::from(configured)]
    };
    for p in &candidates {
        let Ok(bytes) = std::fs::read(p) else {
            continue;
        };
        let Ok(font) = FontVec::try_from_vec_and_index(bytes, 0) else {
            continue;
        };
        let covers = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .all(|c| font.glyph_id(c).0 != 0);
        if covers {
            return Ok(font);
        }
    }
    Err(CardError::Font(if configured.is_empty() {
        "no font with Chinese glyphs found; set it to a TTF/OTF/TTC file (Debian: apt install fonts-wqy-microhei)".into()
    } else {
        format!(
            "{} cannot be read or lacks some of the card's characters",
            Path::new(configured).display()
        )
    }))
}

/// Lines of at most `width` pixels: breaks between any two CJK
/// characters, and at spaces in other scripts.
fn wrap(font: &FontVec, scale: PxScale, text: &str, width: f32) -> Vec<String> {
    let f = font.as_scaled(scale);
    let mut lines = vec![];
    let mut line = String::new();
    let mut w = 0.0;
    for c in text.chars() {
        let adv = f.h_advance(font.glyph_id(c));
        if w + adv > width && !line.is_empty() {
            // Move a half-written Latin word to the next line.
            let carry = if c.is_ascii_alphanumeric() {
                match line.rfind(' ') {
                    Some(i) => line.split_off(i + 1),
                    None => String::new(),
                }
            } else {
                String::new()
            };
            lines.push(line.trim_end().to_string());
            w = carry.chars().map(|c| f.h_advance(font.glyph_id(c))).sum();
            line = carry;
        }
        line.push(c);
        w += adv;
    }
    if !line.trim().is_empty() {
        lines.push(line);
    }
    lines
}

fn draw_text(img: &mut GrayImage, font: &FontVec, scale: PxScale, text: &str, top: u32) {
    let f = font.as_scaled(scale);
    let width: f32 = text.chars().map(|c| f.h_advance(font.glyph_id(c))).sum();
    let mut x = ((img.width() as f32 - width) / 2.0).max(MARGIN as f32);
    let baseline = top as f32 + f.ascent();
    for c in text.chars() {
        let id = font.glyph_id(c);
        let glyph = id.with_scale_and_position(scale, ab_glyph::point(x, baseline));
        x += f.h_advance(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let b = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let (px, py) = (b.min.x as i64 + gx as i64, b.min.y as i64 + gy as i64);
            if px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height() {
                let p = img.get_pixel_mut(px as u32, py as u32);
                let ink = (coverage.clamp(0.0, 1.0) * 255.0) as u8;
                p.0[0] = p.0[0].min(255 - ink);
            }
        });
    }
}

/// The card as PNG bytes: the QR code of `url`, `name` large, then
/// `instructions` wrapped.
pub fn card_png(
    url: &str,
    name: &str,
    instructions: &str,
    font_path: &str,
) -> Result<Vec<u8>, CardError> {
    let code = qrcode::QrCode::with_error_correction_level(url, qrcode::EcLevel::M)
        .map_err(|e| CardError::Qr(e.to_string()))?;
    let modules = code.width() as u32;
    let quiet = 4;
    let scale = (WIDTH - 2 * MARGIN) / (modules + 2 * quiet);
    let qr_px = scale * (modules + 2 * quiet);
    let font = find_font(font_path, &format!("{name}{instructions}"))?;
    let (name_scale, text_scale) = (PxScale::from(40.0), PxScale::from(26.0));
    let lines = wrap(&font, text_scale, instructions, (WIDTH - 2 * MARGIN) as f32);
    let line_h = 38;
    let height = MARGIN + qr_px + 20 + 56 + lines.len() as u32 * line_h + MARGIN;
    let mut img = GrayImage::from_pixel(WIDTH, height, Luma([255]));
    let left = (WIDTH - qr_px) / 2;
    let colors = code.to_colors();
    for (i, c) in colors.iter().enumerate() {
        if *c != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i as u32 % modules, i as u32 / modules);
        for dy in 0..scale {
            for dx in 0..scale {
                img.put_pixel(
                    left + (mx + quiet) * scale + dx,
                    MARGIN + (my + quiet) * scale + dy,
                    Luma([0]),
                );
            }
        }
    }
    let mut y = MARGIN + qr_px + 20;
    draw_text(&mut img, &font, name_scale, name, y);
    y += 56;
    for l in &lines {
        draw_text(&mut img, &font, text_scale, l, y);
        y += line_h;
    }
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| CardError::Png(e.to_string()))?;
    Ok(out.into_inner())
}

/// Where the card's text starts (below the QR code), for tests.
pub fn caption_top(url: &str) -> u32 {
    let modules = qrcode::QrCode::with_error_correction_level(url, qrcode::EcLevel::M)
        .map(|c| c.width() as u32)
        .unwrap_or(21);
    let scale = (WIDTH - 2 * MARGIN) / (modules + 8);
    MARGIN + scale * (modules + 8) + 20
}
