// ferrotune: draws a figure (the JSON of ferrotune_plot::Figure) with
// Apache ECharts. Used by `ferrotune plot -o x.html`, `ferrotune report` and
// the dashboard. Every string from the study is escaped before it reaches
// HTML (tooltips); ECharts draws labels as text.
(function (global) {
  "use strict";

  var VIRIDIS = ["#440154", "#472c7a", "#3b518b", "#2c718e", "#21908d", "#27ad81", "#5cc863", "#aadc32", "#fde725"];
  var ROLE = {
    trial: "#1f77b4", best: "#ff7f0e", front: "#d62728", infeasible: "#a0a0a0",
    pruned: "#9467bd", running: "#2ca02c", failed: "#7f7f7f"
  };
  var STATE = { complete: "#1f77b4", pruned: "#9467bd", failed: "#d62728", running: "#2ca02c", waiting: "#bebebe" };

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function hex(c) { return parseInt(c, 16); }
  function viridis(t) {
    if (!isFinite(t)) t = 0.5;
    t = Math.max(0, Math.min(1, t));
    var p = t * (VIRIDIS.length - 1), i = Math.floor(p), f = p - i;
    var a = VIRIDIS[i], b = VIRIDIS[Math.min(i + 1, VIRIDIS.length - 1)];
    function ch(k) { var x = hex(a.substr(1 + 2 * k, 2)), y = hex(b.substr(1 + 2 * k, 2)); return Math.round(x + (y - x) * f); }
    return "rgb(" + ch(0) + "," + ch(1) + "," + ch(2) + ")";
  }
  function scaleT(scale, v) {
    if (!scale) return 0.5;
    var t = scale.max > scale.min ? (v - scale.min) / (scale.max - scale.min) : 0.5;
    t = Math.max(0, Math.min(1, t));
    return scale.reversed ? 1 - t : t;
  }
  function num(x) {
    if (x === null || x === undefined) return "";
    if (typeof x !== "number") return String(x);
    if (x === 0 || !isFinite(x)) return String(x);
    var a = Math.abs(x);
    if (a < 1e-4 || a >= 1e6) return x.toExponential(4).replace(/\.?0+e/, "e");
    return String(parseFloat(x.toPrecision(6)));
  }

  function trialHtml(fig, n) {
    var t = fig.trials[n];
    if (!t) return "trial " + escapeHtml(n);
    var out = "<b>trial " + escapeHtml(n) + "</b> (" + escapeHtml(t.state) + ")";
    if (t.values) out += "<br>value: " + t.values.map(num).map(escapeHtml).join(", ");
    for (var k in t.params) {
      out += "<br>" + escapeHtml(k) + " = " + escapeHtml(t.params[k]);
    }
    return out;
  }

  function axisOption(axis, gridIndex, horizontal) {
    var o = {
      gridIndex: gridIndex, name: axis.label, nameLocation: "middle", nameGap: horizontal ? 28 : 48,
      nameTextStyle: { fontSize: 12 }, axisLabel: { fontSize: 11, hideOverlap: true },
      splitLine: { lineStyle: { color: "#eee" } }
    };
    if (axis.scale.type === "category") {
      o.type = "category"; o.data = axis.scale.labels; o.boundaryGap = true;
    } else if (axis.scale.type === "log") {
      o.type = "log"; o.logBase = 10;
      o.axisLabel.formatter = function (v) { return num(v); };
    } else {
      o.type = "value"; o.scale = true;
      o.axisLabel.formatter = function (v) { return num(v); };
    }
    if (axis.min !== undefined && axis.min !== null) o.min = axis.min;
    if (axis.max !== undefined && axis.max !== null) o.max = axis.max;
    return o;
  }

  // Cell edges around centres, in data units (geometric midpoints on log axes).
  function edges(centres, scale) {
    var log = scale.type === "log";
    var c = centres.map(function (v) { return log ? Math.log10(v) : v; });
    return c.map(function (v, i) {
      var l = i > 0 ? (c[i - 1] + v) / 2 : (c.length > 1 ? v - (c[1] - v) / 2 : v - 0.5);
      var r = i + 1 < c.length ? (v + c[i + 1]) / 2 : (c.length > 1 ? v + (v - c[i - 1]) / 2 : v + 0.5);
      return log ? [Math.pow(10, l), Math.pow(10, r)] : [l, r];
    });
  }

  function option(fig) {
    var o = {
      animation: false,
      title: [{ text: fig.title, left: "center", top: 0, textStyle: { fontSize: 16 } }],
      tooltip: { trigger: "item", confine: true, extraCssText: "max-width: 360px; white-space: normal;" },
      toolbox: { right: 10, feature: fig.parallel ? { saveAsImage: { title: "save" } }
                                                  : { saveAsImage: { title: "save" }, dataZoom: { title: { zoom: "zoom", back: "back" } } } },
      grid: [], xAxis: [], yAxis: [], series: []
    };
    var colored = [];
    if (fig.parallel) {
      var par = fig.parallel;
      o.parallel = { left: 70, right: 110, top: 60, bottom: 50 };
      o.parallelAxis = par.axes.map(function (a, i) {
        var ax = { dim: i, name: a.label, nameLocation: "start", nameGap: 20 };
        if (a.scale.type === "category") { ax.type = "category"; ax.data = a.scale.labels; }
        else if (a.scale.type === "log") { ax.type = "log"; }
        else { ax.type = "value"; ax.scale = true; }
        ax.axisLabel = { formatter: a.scale.type === "category" ? undefined : function (v) { return num(v); } };
        return ax;
      });
      o.series.push({
        type: "parallel", name: "trials", lineStyle: { width: 1, opacity: 0.55 }, smooth: false,
        data: par.lines.map(function (l) { return { value: l.values.map(function (v) { return v === null ? "-" : v; }), trial: l.trial }; })
      });
      o.tooltip.formatter = function (p) { return p.data && p.data.trial !== undefined ? trialHtml(fig, p.data.trial) : ""; };
      if (fig.color) {
        o.visualMap = [{
          type: "continuous", min: fig.color.min, max: fig.color.max, dimension: par.axes.length - 1, seriesIndex: [0],
          right: 10, top: "middle", text: [num(fig.color.max), num(fig.color.min)], calculable: true,
          inRange: { color: fig.color.reversed ? VIRIDIS.slice().reverse() : VIRIDIS }, textStyle: { fontSize: 11 }
        }];
      }
      return o;
    }
    var n = Math.max(1, fig.panels.length), cols = Math.max(1, Math.min(fig.columns || 1, n)), rows = Math.ceil(n / cols);
    var right = fig.color ? 12 : 3, top = 8, bottom = 4;
    var w = (100 - 6 - right) / cols, h = (100 - top - bottom) / rows;
    fig.panels.forEach(function (panel, i) {
      var r = Math.floor(i / cols), c = i % cols;
      o.grid.push({ left: (6 + c * w) + "%", top: (top + r * h + 4) + "%", width: (w - 6) + "%", height: (h - 13) + "%", containLabel: true });
      if (panel.title) o.title.push({ text: panel.title, left: (6 + c * w + (w - 6) / 2) + "%", top: (top + r * h) + "%", textAlign: "center", textStyle: { fontSize: 13, fontWeight: "normal" } });
      o.xAxis.push(axisOption(panel.x, i, true));
      o.yAxis.push(axisOption(panel.y, i, false));
      panel.series.forEach(function (s) {
        var base = { xAxisIndex: i, yAxisIndex: i, name: s.name };
        if (s.type === "points") {
          var hasColor = s.role === "trial" && s.points.length && s.points[0].color !== undefined;
          var size = s.role === "front" ? 10 : (s.role === "pruned" ? 8 : 6);
          o.series.push(Object.assign(base, {
            type: "scatter", symbolSize: size, large: s.points.length > 5000,
            symbol: s.role === "pruned" ? "diamond" : (s.role === "infeasible" ? "triangle" : "circle"),
            itemStyle: { color: ROLE[s.role] || ROLE.trial, opacity: 0.85 },
            data: s.points.map(function (p) { return [p.x, p.y, p.trial === undefined ? null : p.trial, p.color === undefined ? null : p.color]; }),
            tooltip: { formatter: function (p) { return p.data[2] === null ? "" : trialHtml(fig, p.data[2]); } }
          }));
          if (hasColor) colored.push(o.series.length - 1);
        } else if (s.type === "line") {
          var color = (s.color !== undefined && (s.role === "trial" || s.role === "running")) ? viridis(scaleT(fig.color, s.color)) : (ROLE[s.role] || ROLE.trial);
          o.series.push(Object.assign(base, {
            type: "line", showSymbol: false, step: s.step ? "end" : false, triggerLineEvent: s.trial !== undefined,
            lineStyle: { color: color, width: (s.role === "best" || s.role === "front") ? 2 : 1, opacity: s.role === "pruned" ? 0.5 : 0.9 },
            itemStyle: { color: color }, emphasis: { focus: "series" }, data: s.points,
            tooltip: { formatter: function () { return s.trial !== undefined ? trialHtml(fig, s.trial) : escapeHtml(s.name); } }
          }));
        } else if (s.type === "bars") {
          o.series.push(Object.assign(base, {
            type: "bar", data: s.values, itemStyle: { color: ROLE.trial }, barMaxWidth: 28,
            label: { show: true, position: "right", formatter: function (p) { return num(p.value); }, fontSize: 11 },
            tooltip: { formatter: function (p) { return escapeHtml(p.name) + ": " + num(p.value); } }
          }));
        } else if (s.type === "heatmap") {
          var ex = edges(s.xs, panel.x.scale), ey = edges(s.ys, panel.y.scale), cells = [];
          s.z.forEach(function (row, ri) { row.forEach(function (z, ci) { cells.push([ex[ci][0], ex[ci][1], ey[ri][0], ey[ri][1], z]); }); });
          o.series.push(Object.assign(base, {
            type: "custom", silent: false, z: 1, data: cells, encode: { x: [0, 1], y: [2, 3] },
            renderItem: function (params, api) {
              var a = api.coord([api.value(0), api.value(2)]), b = api.coord([api.value(1), api.value(3)]);
              return { type: "rect", shape: { x: Math.min(a[0], b[0]), y: Math.min(a[1], b[1]), width: Math.abs(b[0] - a[0]) + 0.5, height: Math.abs(b[1] - a[1]) + 0.5 },
                style: { fill: viridis(scaleT(fig.color, api.value(4))), opacity: 0.55 } };
            },
            tooltip: { formatter: function (p) { return "predicted: " + num(p.data[4]); } }
          }));
        } else if (s.type === "segments") {
          o.series.push(Object.assign(base, {
            type: "custom", data: s.items.map(function (it) { return [it.start, it.end, it.row, it.trial, it.state]; }), encode: { x: [0, 1], y: 2 },
            renderItem: function (params, api) {
              var a = api.coord([api.value(0), api.value(2)]), b = api.coord([api.value(1), api.value(2)]), hgt = api.size([0, 1])[1] * 0.7;
              return { type: "rect", shape: { x: a[0], y: a[1] - hgt / 2, width: Math.max(1, b[0] - a[0]), height: hgt },
                style: { fill: STATE[api.value(4)] || "#bbb" } };
            },
            tooltip: { formatter: function (p) { return trialHtml(fig, p.data[3]); } }
          }));
        }
      });
    });
    if (fig.color) {
      o.visualMap = [{
        type: "continuous", min: fig.color.min, max: fig.color.max, dimension: 3, seriesIndex: colored,
        right: 10, top: "middle", text: [num(fig.color.max), num(fig.color.min)], calculable: colored.length > 0,
        inRange: { color: fig.color.reversed ? VIRIDIS.slice().reverse() : VIRIDIS }, textStyle: { fontSize: 11 }
      }];
    }
    o.dataZoom = [{ type: "inside", xAxisIndex: o.xAxis.map(function (_, i) { return i; }), filterMode: "none" },
                  { type: "inside", yAxisIndex: o.yAxis.map(function (_, i) { return i; }), filterMode: "none" }];
    return o;
  }

  function render(el, fig, chart) {
    chart = chart || global.echarts.getInstanceByDom(el) || global.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(option(fig), true);
    if (!el.__ferrotuneResize) {
      el.__ferrotuneResize = true;
      global.addEventListener("resize", function () { chart.resize(); });
    }
    return chart;
  }

  global.ferrotuneFigure = { render: render, option: option, escapeHtml: escapeHtml, num: num, viridis: viridis };
})(typeof window !== "undefined" ? window : this);
