//! Interactive HTML: the figure as JSON, drawn in the browser by Apache
//! ECharts (vendored, pinned, Apache-2.0; `assets/ECHARTS-LICENSE`) through
//! `assets/figure.js`, ferrotune's own figure-to-ECharts code, which the
//! dashboard uses too. The page is self-contained: no network needed to
//! open it.

use crate::figure::Figure;
use crate::{Error, Result};

/// Apache ECharts 6.1.0, minified, as published on npm.
pub const ECHARTS_JS: &str = include_str!("../assets/echarts-6.1.0.min.js");
/// Its licence (Apache-2.0) and notice.
pub const ECHARTS_LICENSE: &str = concat!(include_str!("../assets/ECHARTS-LICENSE"), "\n", include_str!("../assets/ECHARTS-NOTICE"));
/// Draws a [`Figure`]'s JSON with ECharts: `ferrotuneFigure.render(element, figure)`.
pub const FIGURE_JS: &str = include_str!("../assets/figure.js");

/// Text safe inside HTML elements and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that can sit inside a `<script>` element: no `</script>`, no `<!--`.
pub fn script_json(v: &impl serde::Serialize) -> Result<String> {
    let s = serde_json::to_string(v).map_err(|e| Error::Render(e.to_string()))?;
    Ok(s.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026"))
}

/// The figure as one self-contained, interactive HTML page.
pub fn to_html(fig: &Figure) -> Result<String> {
    let data = script_json(fig)?;
    let height = if fig.parallel.is_some() {
        620
    } else {
        let n = fig.panels.len().max(1);
        let rows = n.div_ceil(fig.columns.clamp(1, n));
        (rows * if n == 1 { 560 } else { 420 } + 60).max(400)
    };
    Ok(format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="ferrotune">
<title>{title}</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 16px; color: #222; }} .note {{ color: #666; font-size: 13px; }}</style>
</head>
<body>
<div id="figure" style="width: 100%; height: {height}px;"></div>
{notes}
<script type="application/json" id="figure-data">{data}</script>
<script>{echarts}</script>
<script>{figure_js}</script>
<script>ferrotuneFigure.render(document.getElementById("figure"), JSON.parse(document.getElementById("figure-data").textContent));</script>
</body>
</html>
"#,
        title = escape(&fig.title),
        notes = fig.notes.iter().map(|n| format!("<p class=\"note\">{}</p>", escape(n))).collect::<Vec<_>>().join("\n"),
        echarts = ECHARTS_JS.replace("</script", "<\\/script"),
        figure_js = FIGURE_JS,
    ))
}
