//! The matches-and-wins-per-month chart, laid out here and drawn as inline SVG by the
//! results template: no script, and every label goes through the template's escaping.

use shared::api::MonthCount;

/// Months shown at most; older ones are left to the table filters.
const MAX_MONTHS: usize = 24;
const BAR_SLOT: u32 = 40;
const BAR_WIDTH: u32 = 28;
const PLOT_HEIGHT: u32 = 120;
/// Room above the tallest bar for its count.
const TOP: u32 = 16;
const LABEL_SPACE: u32 = 24;
const LEFT: u32 = 8;

pub struct Chart {
    pub width: u32,
    pub height: u32,
    pub baseline: u32,
    pub bars: Vec<Bar>,
    /// A sentence for screen readers.
    pub summary: String,
}

/// One month: the full bar is matches, the inner bar wins.
pub struct Bar {
    pub x: u32,
    pub label_x: u32,
    pub width: u32,
    pub matches_y: u32,
    pub matches_height: u32,
    pub wins_y: u32,
    pub wins_height: u32,
    pub matches: u64,
    pub label: String,
    pub title: String,
}

/// `None` when there is nothing to draw.
pub fn layout(months: &[MonthCount]) -> Option<Chart> {
    let shown = &months[months.len().saturating_sub(MAX_MONTHS)..];
    let most = shown.iter().map(|month| month.matches).max()?.max(1);
    let baseline = TOP + PLOT_HEIGHT;
    let bars = shown
        .iter()
        .zip(0u32..)
        .map(|(month, index)| {
            let x = LEFT + index * BAR_SLOT;
            let matches_height = scale(month.matches, most);
            let wins_height = scale(month.wins.min(month.matches), most);
            Bar {
                x,
                label_x: x + BAR_WIDTH / 2,
                width: BAR_WIDTH,
                matches_y: baseline - matches_height,
                matches_height,
                wins_y: baseline - wins_height,
                wins_height,
                matches: month.matches,
                label: short_month(&month.month),
                title: format!(
                    "{}: {} matches, {} wins",
                    month.month, month.matches, month.wins
                ),
            }
        })
        .collect::<Vec<_>>();
    let summary = format!(
        "Matches and wins per month, {} to {}; the most in one month: {most}.",
        shown.first()?.month,
        shown.last()?.month
    );
    Some(Chart {
        width: LEFT * 2 + BAR_SLOT * bars.len() as u32,
        height: baseline + LABEL_SPACE,
        baseline,
        bars,
        summary,
    })
}

fn scale(count: u64, most: u64) -> u32 {
    // Both fit easily in u64 arithmetic; the result is at most PLOT_HEIGHT.
    (count.saturating_mul(u64::from(PLOT_HEIGHT)) / most) as u32
}

/// `2026-11` → `Nov 26`; anything unexpected is shown as it came.
fn short_month(month: &str) -> String {
    const NAMES: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parsed = month.split_once('-').and_then(|(year, number)| {
        let index = number.parse::<usize>().ok()?.checked_sub(1)?;
        Some((year.get(2..)?, NAMES.get(index)?))
    });
    match parsed {
        Some((year, name)) => format!("{name} {year}"),
        None => month.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month(month: &str, matches: u64, wins: u64) -> MonthCount {
        MonthCount {
            month: month.into(),
            matches,
            wins,
        }
    }

    #[test]
    fn bars_scale_to_the_busiest_month() {
        let chart = layout(&[month("2026-10", 4, 1), month("2026-11", 8, 8)]).unwrap();
        assert_eq!(chart.bars.len(), 2);
        assert_eq!(chart.bars[1].matches_height, PLOT_HEIGHT);
        assert_eq!(chart.bars[0].matches_height, PLOT_HEIGHT / 2);
        assert_eq!(chart.bars[0].wins_height, PLOT_HEIGHT / 8);
        assert_eq!(
            chart.bars[0].matches_y + chart.bars[0].matches_height,
            chart.baseline
        );
        assert_eq!(chart.bars[0].label, "Oct 26");
        assert!(chart.summary.contains("2026-10 to 2026-11"));
    }

    #[test]
    fn no_months_draw_no_chart_and_many_keep_the_latest() {
        assert!(layout(&[]).is_none());
        let many: Vec<_> = (0..30)
            .map(|i| month(&format!("{}-{:02}", 2024 + i / 12, i % 12 + 1), 1, 0))
            .collect();
        let chart = layout(&many).unwrap();
        assert_eq!(chart.bars.len(), MAX_MONTHS);
        assert_eq!(chart.bars.last().unwrap().label, "Jun 26");
        assert_eq!(short_month("garbage"), "garbage");
    }
}
