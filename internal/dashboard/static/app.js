// nodewatch dashboard. Every page is built from /api/ui JSON with
// createElement and textContent only — never innerHTML — so whatever a pod
// name, label or event message contains is shown as text. Charts are SVG
// drawn here; nothing is loaded from anywhere but this daemon.
(function () {
  'use strict';

  const SVGNS = 'http://www.w3.org/2000/svg';
  const body = document.body;
  const main = document.getElementById('main');
  const rangeSel = document.getElementById('range');
  const params = new URLSearchParams(location.search);
  const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7', '#9c755f', '#bab0ac', '#86bcb6', '#d4a6c8'];
  const LEVEL_COLORS = { request: '#2b8a3e', limit: '#c92a2a', allocatable: '#495057', requested: '#2b8a3e' };
  const MARKER_COLORS = { oom: '#c92a2a', restart: '#e67700', incident: '#c92a2a', resolved: '#2b8a3e' };

  // ---- DOM helpers -------------------------------------------------------

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    for (const k of kids.flat()) {
      if (k == null || k === false) continue;
      e.append(k instanceof Node ? k : String(k));
    }
    return e;
  }

  function svg(tag, attrs, ...kids) {
    const e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    for (const k of kids.flat()) {
      if (k == null || k === false) continue;
      e.append(k instanceof Node ? k : String(k));
    }
    return e;
  }

  function setAttrs(e, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') e.setAttribute('class', v);
      else if (k === 'text') e.textContent = String(v);
      else e.setAttribute(k, String(v));
    }
  }

  function title(text) { return svg('title', { text: text }); }

  // Links are built from constant path prefixes and encoded segments.
  function nodeLink(name) {
    if (!name) return '–';
    return el('a', { href: '/nodes/' + encodeURIComponent(name), class: 'node-link' }, name);
  }
  function podLink(ns, name) {
    return el('a', { href: '/pods/' + encodeURIComponent(ns) + '/' + encodeURIComponent(name), class: 'pod-link' }, ns + '/' + name);
  }
  function incidentLink(id, text) {
    return el('a', { href: '/incidents/' + encodeURIComponent(id) }, text || id);
  }

  function section(heading, ...kids) {
    return el('section', {}, el('h2', {}, heading), ...kids);
  }

  function table(headers, rows, cls) {
    const thead = el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h))));
    const tbody = el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c) => el('td', {}, c)))));
    return el('table', { class: cls || '' }, thead, tbody);
  }

  function badge(text, kind) { return el('span', { class: 'badge ' + (kind || '') }, text); }

  function empty(text) { return el('p', { class: 'muted' }, text); }

  function card(n, label, cls) {
    return el('div', { class: 'card' + (cls ? ' ' + cls : '') }, el('strong', {}, String(n)), ' ' + label);
  }

  // copyButton copies text: through the Clipboard API where the page is a
  // secure context (https, or the default loopback address), else through
  // a selected off-screen textarea (plain http beyond loopback).
  function copyButton(text, label) {
    label = label || 'Copy';
    const b = el('button', { type: 'button', class: 'copy', title: 'Copy to the clipboard' }, label);
    b.addEventListener('click', () => {
      copyText(text).then(() => flash(b, 'Copied', label), () => flash(b, 'Copy failed: select the text', label));
    });
    return b;
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    const ta = el('textarea', { class: 'offscreen', readonly: 'readonly' });
    ta.value = text;
    body.append(ta);
    ta.select();
    const ok = document.execCommand('copy');
    ta.remove();
    if (!ok) throw new Error('copy refused');
  }

  function flash(b, text, back) {
    b.textContent = text;
    b.dataset.copied = text;
    setTimeout(() => { b.textContent = back; }, 2000);
  }

  // namespacePicker narrows the audit and recommendations to a namespace.
  function namespacePicker(d) {
    const names = d.namespaces.slice();
    if (d.namespace && !names.includes(d.namespace)) names.push(d.namespace);
    const sel = el('select', { id: 'namespace' }, el('option', { value: '' }, 'all namespaces'), names.map((n) => el('option', { value: n }, n)));
    sel.value = d.namespace || '';
    sel.addEventListener('change', () => {
      if (sel.value) params.set('namespace', sel.value); else params.delete('namespace');
      history.replaceState(null, '', location.pathname + '?' + params.toString());
      load();
    });
    return el('p', { class: 'picker' }, el('label', {}, 'Namespace ', sel));
  }

  // ---- formatting --------------------------------------------------------

  function fmtBytes(b) {
    if (b == null || isNaN(b)) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    let v = Math.abs(b);
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (b < 0 ? '-' : '') + (v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)) + ' ' + units[i];
  }

  function fmtValue(v, unit) {
    if (v == null || isNaN(v)) return '–';
    if (unit === 'bytes') return fmtBytes(v);
    if (unit === 'cores') return v >= 1 ? v.toFixed(2) + ' cores' : (v * 1000).toFixed(0) + ' m';
    if (unit === 'faults/s') return (v >= 10 ? v.toFixed(0) : v.toFixed(1)) + '/s';
    return String(Math.round(v * 100) / 100);
  }

  function fmtTime(t) {
    if (!t) return '–';
    const d = new Date(t);
    if (isNaN(d)) return '–';
    const now = new Date();
    const hms = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
    if (d.toDateString() === now.toDateString()) return hms;
    return d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + hms;
  }

  function fmtDuration(ms) {
    if (ms == null || isNaN(ms)) return '–';
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 90) return s + 's';
    if (s < 5400) return Math.round(s / 60) + 'm';
    if (s < 172800) return (s / 3600).toFixed(1) + 'h';
    return (s / 86400).toFixed(1) + 'd';
  }

  function since(t) { return t ? fmtDuration(Date.now() - new Date(t).getTime()) + ' ago' : '–'; }

  function workload(o) { return o && o.kind ? o.kind + '/' + o.name : '–'; }

  function statusBadge(ready) {
    if (ready === 'True') return badge('Ready', 'ok');
    if (ready === 'False') return badge('NotReady', 'bad');
    if (ready === 'Unknown') return badge('Unknown', 'bad');
    return badge('no status', 'warn');
  }

  function severityBadge(sev, status) {
    if (status === 'resolved') return badge('resolved', 'ok');
    return badge(sev || 'open', sev === 'critical' ? 'bad' : 'warn');
  }

  // ---- scales and ticks --------------------------------------------------

  function niceStep(span, target) {
    const raw = span / target;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
    return 10 * mag;
  }

  // yTicks returns tick values from 0 to max; bytes tick at round binary units.
  function yTicks(max, unit) {
    if (!(max > 0)) return [0];
    let base = 1;
    if (unit === 'bytes') {
      base = max >= 1 << 30 ? 1 << 30 : max >= 1 << 20 ? 1 << 20 : max >= 1 << 10 ? 1 << 10 : 1;
    }
    const step = niceStep(max / base, 4) * base;
    const out = [];
    for (let v = 0; v < max + step; v += step) out.push(v);
    return out;
  }

  const TIME_STEPS = [10e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 10800e3, 21600e3, 43200e3, 86400e3, 172800e3];

  function xTicks(start, end) {
    const span = end - start;
    const step = TIME_STEPS.find((s) => span / s <= 7) || TIME_STEPS[TIME_STEPS.length - 1];
    const tz = new Date(start).getTimezoneOffset() * 60e3;
    const out = [];
    for (let t = Math.ceil((start - tz) / step) * step + tz; t <= end; t += step) out.push(t);
    return { ticks: out, days: span > 86400e3 };
  }

  function fmtTick(t, days) {
    const d = new Date(t);
    const hm = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
    return days ? d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + hm : hm;
  }

  // ---- charts ------------------------------------------------------------

  const W = 960, H = 290, M = { l: 72, r: 72, t: 26, b: 30 };

  function xAxis(g, x, range) {
    const { ticks, days } = xTicks(range.start, range.end);
    g.append(svg('line', { x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b, class: 'axis' }));
    for (const t of ticks) {
      g.append(svg('line', { x1: x(t), x2: x(t), y1: H - M.b, y2: H - M.b + 4, class: 'axis' }));
      g.append(svg('text', { x: x(t), y: H - M.b + 16, 'text-anchor': 'middle', class: 'tick', text: fmtTick(t, days) }));
    }
  }

  // stack aligns series on their timestamps and sums them bottom-up.
  function stack(series) {
    const ts = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
    const base = new Map(ts.map((t) => [t, 0]));
    return series.map((s) => {
      const byT = new Map(s.points.map((p) => [p[0], p[1]]));
      const lower = ts.map((t) => [t, base.get(t)]);
      const upper = ts.map((t) => { const v = base.get(t) + (byT.get(t) || 0); base.set(t, v); return [t, v]; });
      return { name: s.name, lower, upper, n: s.points.length };
    });
  }

  function pathOf(pts, x, y) {
    let d = '';
    let prev = null;
    for (const p of pts) {
      // A gap of more than 3 points' time breaks the line.
      d += (prev != null && p[0] - prev <= gapLimit ? 'L' : 'M') + x(p[0]).toFixed(1) + ',' + y(p[1]).toFixed(1);
      prev = p[0];
    }
    return d;
  }
  let gapLimit = Infinity;

  function drawChart(c, range, opts) {
    opts = opts || {};
    const fig = el('figure', { class: 'chart' });
    if (opts.title) fig.append(el('figcaption', {}, opts.title));
    const series = (c.series || []).filter((s) => s.points && s.points.length > 0);
    const ov = c.overlay && c.overlay.series.points.length > 0 ? c.overlay : null;
    gapLimit = Math.max(3 * range.stepSeconds * 1000, 90e3);
    const root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart-svg', role: 'img', 'aria-label': opts.title || 'chart' });
    const x = (t) => M.l + ((t - range.start) / Math.max(1, range.end - range.start)) * (W - M.l - M.r);
    let stacked = null;
    let max = 0;
    if (c.stacked) {
      stacked = stack(series);
      for (const s of stacked) for (const p of s.upper) max = Math.max(max, p[1]);
    } else {
      for (const s of series) for (const p of s.points) max = Math.max(max, p[1]);
    }
    // A level far above the data (16 GiB allocatable over 300 MiB of pods)
    // would flatten it: such a level is named at the top, off the scale.
    const onScale = (l) => l.value > 0 && (max === 0 || l.value <= 3 * max);
    for (const l of c.levels || []) if (onScale(l)) max = Math.max(max, l.value);
    const ticks = yTicks(max * 1.05, c.unit);
    const ymax = ticks[ticks.length - 1] || 1;
    const y = (v) => H - M.b - (v / ymax) * (H - M.t - M.b);
    const grid = svg('g', { class: 'grid' });
    for (const t of ticks) {
      grid.append(svg('line', { x1: M.l, x2: W - M.r, y1: y(t), y2: y(t), class: 'gridline' }));
      grid.append(svg('text', { x: M.l - 6, y: y(t) + 4, 'text-anchor': 'end', class: 'tick', text: fmtValue(t, c.unit) }));
    }
    root.append(grid);
    xAxis(root, x, range);
    root.append(svg('text', { x: 12, y: 13, class: 'unit', text: c.unit }));

    const legend = el('ul', { class: 'legend' });
    const plot = svg('g', { class: 'plot' });
    if (stacked) {
      stacked.forEach((s, i) => {
        const color = PALETTE[i % PALETTE.length];
        const d = pathOf(s.upper, x, y) + 'L' + [...s.lower].reverse().map((p) => x(p[0]).toFixed(1) + ',' + y(p[1]).toFixed(1)).join('L') + 'Z';
        plot.append(svg('path', { d: d, fill: color, 'fill-opacity': 0.55, stroke: color, 'stroke-width': 1, class: 'series', 'data-points': s.n, 'data-name': s.name }, title(s.name)));
        legend.append(el('li', {}, el('span', { class: 'swatch', 'data-color': color }), s.name));
      });
    } else {
      series.forEach((s, i) => {
        const color = PALETTE[i % PALETTE.length];
        const g = svg('g', { class: 'series-group' });
        g.append(svg('path', { d: pathOf(s.points, x, y), fill: 'none', stroke: color, 'stroke-width': 2, class: 'series', 'data-points': s.points.length, 'data-name': s.name }, title(s.name)));
        if (s.points.length <= 300) {
          for (const p of s.points) g.append(svg('circle', { cx: x(p[0]).toFixed(1), cy: y(p[1]).toFixed(1), r: 1.8, fill: color, class: 'point' }));
        }
        plot.append(g);
        legend.append(el('li', {}, el('span', { class: 'swatch', 'data-color': color }), s.name));
      });
    }
    root.append(plot);

    let offScale = 0;
    for (const l of c.levels || []) {
      if (!(l.value > 0)) continue;
      const color = LEVEL_COLORS[l.name] || '#495057';
      if (!onScale(l)) {
        root.append(svg('text', { x: W - M.r - 4, y: 13 + 13 * offScale++, 'text-anchor': 'end', class: 'level-label', fill: color, text: '↑ ' + l.name + ' ' + fmtValue(l.value, c.unit) + ' (off scale)' }));
        legend.append(el('li', {}, el('span', { class: 'swatch dashed', 'data-color': color }), l.name + ' (' + fmtValue(l.value, c.unit) + ', off scale)'));
        continue;
      }
      root.append(svg('line', { x1: M.l, x2: W - M.r, y1: y(l.value), y2: y(l.value), stroke: color, 'stroke-dasharray': '6 4', 'stroke-width': 1.5, class: 'level' }, title(l.name + ' ' + fmtValue(l.value, c.unit))));
      root.append(svg('text', { x: W - M.r - 4, y: y(l.value) - 4, 'text-anchor': 'end', class: 'level-label', fill: color, text: l.name + ' ' + fmtValue(l.value, c.unit) }));
      legend.append(el('li', {}, el('span', { class: 'swatch dashed', 'data-color': color }), l.name + ' (' + fmtValue(l.value, c.unit) + ')'));
    }

    if (ov) {
      let omax = 0;
      for (const p of ov.series.points) omax = Math.max(omax, p[1]);
      const oticks = yTicks(omax * 1.1, ov.unit);
      const oy = Math.max(oticks[oticks.length - 1], omax * 1.1) || 1;
      const y2 = (v) => H - M.b - (v / oy) * (H - M.t - M.b);
      for (const t of oticks) root.append(svg('text', { x: W - M.r + 6, y: y2(t) + 4, class: 'tick overlay-tick', text: fmtValue(t, ov.unit) }));
      root.append(svg('line', { x1: W - M.r, x2: W - M.r, y1: M.t, y2: H - M.b, class: 'axis' }));
      root.append(svg('text', { x: W - 8, y: 13, 'text-anchor': 'end', class: 'unit overlay-tick', text: ov.unit }));
      root.append(svg('path', { d: pathOf(ov.series.points, x, y2), fill: 'none', stroke: '#e03131', 'stroke-width': 2, class: 'series overlay', 'data-points': ov.series.points.length, 'data-name': ov.series.name }, title(ov.series.name)));
      legend.append(el('li', {}, el('span', { class: 'swatch', 'data-color': '#e03131' }), ov.series.name + ' (right axis)'));
    }

    const kinds = new Set();
    for (const m of c.markers || []) {
      if (m.t < range.start || m.t > range.end) continue;
      const color = MARKER_COLORS[m.kind] || '#868e96';
      kinds.add(m.kind);
      const g = svg('g', { class: 'marker marker-' + m.kind });
      g.append(svg('line', { x1: x(m.t), x2: x(m.t), y1: M.t, y2: H - M.b, stroke: color, 'stroke-width': 1.5, 'stroke-dasharray': '2 2' }));
      g.append(svg('circle', { cx: x(m.t), cy: M.t + 4, r: 4, fill: color }));
      g.append(title(fmtTime(m.t) + ' ' + m.label));
      root.append(g);
    }
    for (const k of kinds) legend.append(el('li', {}, el('span', { class: 'swatch marker', 'data-color': MARKER_COLORS[k] || '#868e96' }), { oom: 'OOM kill', restart: 'restart', incident: 'incident opened', resolved: 'resolved' }[k] || k));

    if (series.length === 0) {
      root.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'nodata', text: opts.empty || 'No data in this time range' }));
    }
    hover(root, c, stacked, series, ov, x, range);
    fig.append(root, legend);
    for (const sw of fig.querySelectorAll('.swatch')) sw.style.backgroundColor = sw.getAttribute('data-color');
    return fig;
  }

  // hover shows the values at the nearest sample under the pointer.
  function hover(root, c, stacked, series, ov, x, range) {
    if (series.length === 0) return;
    const cursor = svg('line', { y1: M.t, y2: H - M.b, class: 'cursor', visibility: 'hidden' });
    const box = svg('g', { class: 'tip', visibility: 'hidden' });
    root.append(cursor, box);
    const all = series.map((s) => ({ name: s.name, points: s.points, unit: c.unit }));
    if (ov) all.push({ name: ov.series.name, points: ov.series.points, unit: ov.unit });
    root.addEventListener('mousemove', (ev) => {
      const r = root.getBoundingClientRect();
      const px = ((ev.clientX - r.left) / r.width) * W;
      if (px < M.l || px > W - M.r) { cursor.setAttribute('visibility', 'hidden'); box.setAttribute('visibility', 'hidden'); return; }
      const t = range.start + ((px - M.l) / (W - M.l - M.r)) * (range.end - range.start);
      const lines = [fmtTime(t)];
      for (const s of all.slice(0, 12)) {
        let best = null;
        for (const p of s.points) if (best == null || Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
        if (best) lines.push(s.name + ': ' + fmtValue(best[1], s.unit));
      }
      cursor.setAttribute('x1', px); cursor.setAttribute('x2', px); cursor.setAttribute('visibility', 'visible');
      box.replaceChildren();
      const bx = px > W / 2 ? px - 290 : px + 10;
      box.append(svg('rect', { x: bx, y: M.t, width: 280, height: 14 * lines.length + 8, class: 'tip-bg' }));
      lines.forEach((l, i) => box.append(svg('text', { x: bx + 6, y: M.t + 16 + 14 * i, class: 'tip-text', text: l.length > 46 ? l.slice(0, 45) + '…' : l })));
      box.setAttribute('visibility', 'visible');
    });
    root.addEventListener('mouseleave', () => { cursor.setAttribute('visibility', 'hidden'); box.setAttribute('visibility', 'hidden'); });
  }

  // drawTimeline lays a node's incidents in lanes over the range.
  function drawTimeline(segments, range) {
    const lanes = ['Ready', 'Lease', 'Pressure'];
    const h = 30 + lanes.length * 28;
    const root = svg('svg', { viewBox: '0 0 ' + W + ' ' + h, class: 'timeline-svg', role: 'img', 'aria-label': 'Ready and Lease timeline' });
    const x = (t) => M.l + ((Math.min(Math.max(t, range.start), range.end) - range.start) / Math.max(1, range.end - range.start)) * (W - M.l - M.r);
    lanes.forEach((lane, i) => {
      const yy = 6 + i * 28;
      root.append(svg('text', { x: M.l - 6, y: yy + 16, 'text-anchor': 'end', class: 'tick', text: lane }));
      root.append(svg('rect', { x: M.l, y: yy, width: W - M.l - M.r, height: 22, class: 'lane' }, title(lane + ': no incident')));
    });
    for (const s of segments) {
      const i = lanes.indexOf(s.lane);
      if (i < 0) continue;
      const start = new Date(s.start).getTime();
      const end = s.end ? new Date(s.end).getTime() : range.end;
      if (end < range.start || start > range.end) continue;
      const x1 = x(start), x2 = Math.max(x(end), x1 + 3);
      const rect = svg('rect', { x: x1, y: 6 + i * 28, width: x2 - x1, height: 22, class: 'segment ' + (s.severity === 'critical' ? 'bad' : 'warn') },
        title(s.label + ' · ' + fmtTime(start) + ' → ' + (s.end ? fmtTime(end) : 'now')));
      if (s.incident) {
        const a = svg('a', { href: '/incidents/' + encodeURIComponent(s.incident) });
        a.append(rect);
        root.append(a);
      } else {
        root.append(rect);
      }
      if (x2 - x1 > 90) root.append(svg('text', { x: x1 + 4, y: 6 + i * 28 + 15, class: 'segment-label', text: s.label.length > (x2 - x1) / 7 ? s.label.slice(0, Math.floor((x2 - x1) / 7)) + '…' : s.label }));
    }
    const axisY = 6 + lanes.length * 28 + 2;
    const { ticks, days } = xTicks(range.start, range.end);
    for (const t of ticks) root.append(svg('text', { x: x(t), y: axisY + 14, 'text-anchor': 'middle', class: 'tick', text: fmtTick(t, days) }));
    const fig = el('figure', { class: 'chart' }, el('figcaption', {}, 'Ready, Lease and pressure timeline (from incidents)'), root);
    const legend = el('ul', { class: 'legend' },
      el('li', {}, el('span', { class: 'swatch lane-swatch' }), 'no incident'),
      el('li', {}, el('span', { class: 'swatch bad-swatch' }), 'down (critical)'),
      el('li', {}, el('span', { class: 'swatch warn-swatch' }), 'warning (Lease missed, pressure)'));
    fig.append(legend);
    return fig;
  }

  // ---- data --------------------------------------------------------------

  // The recommendations are sized from the range: recommend's --since, 7d.
  function currentRange() { return params.get('range') || (body.dataset.page === 'recommendations' ? '7d' : '1h'); }

  // FORWARDED are the page's own parameters its JSON takes too.
  const FORWARDED = ['end', 'namespace', 'min-history', 'min-samples', 'cpu-limits'];

  async function getJSON(path) {
    const q = new URLSearchParams({ range: currentRange() });
    for (const k of FORWARDED) if (params.get(k)) q.set(k, params.get(k));
    const resp = await fetch(path + '?' + q.toString(), { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) throw new Error((data && data.error) || resp.status + ' ' + resp.statusText);
    return data;
  }

  function warnings(d) {
    return (d.warnings || []).length ? el('ul', { class: 'warnings' }, d.warnings.map((w) => el('li', {}, w))) : null;
  }

  function eventsTable(evs) {
    if (!evs || evs.length === 0) return empty('No events in this time range.');
    return table(['Time', 'Type', 'Reason', 'Message', 'Count'], evs.map((e) => [fmtTime(e.time), badge(e.type || '–', e.type === 'Warning' ? 'warn' : ''), e.reason, el('span', { class: 'message' }, e.message), e.count || '']), 'events');
  }

  function incidentsTable(rows) {
    if (!rows || rows.length === 0) return empty('No incidents.');
    return table(['Status', 'Rule', 'Node / workload', 'Started', 'Duration', 'Pods', 'Message'], rows.map((i) => [
      severityBadge(i.severity, i.status), incidentLink(i.id, i.rule), i.node ? nodeLink(i.node) : i.workload || '–', fmtTime(i.start),
      fmtDuration((i.end ? Date.parse(i.end) : Date.now()) - Math.min(Date.parse(i.start), i.since ? Date.parse(i.since) : Infinity)), i.pods || '', el('span', { class: 'message' }, i.message || i.reason || '')]), 'incidents');
  }

  function suspectsTable(sus) {
    if (!sus || sus.length === 0) return empty('No node failures recorded: no suspects.');
    return table(['Rank', 'Workload', 'Score', 'Failed nodes it was on', 'Evidence'], sus.map((s, i) => [
      String(i + 1), el('span', { class: 'workload' }, s.kind + ' ' + s.namespace + '/' + s.name), s.score.toFixed(1), s.failures + ' of ' + s.totalFailures,
      el('ul', { class: 'evidence' }, (s.evidence || []).map((e) => el('li', {}, e)))]), 'suspects');
  }

  function memBar(n) {
    const total = Math.max(n.memoryAllocatable || 0, n.memoryRequests || 0, n.memoryUsed || 0, 1);
    const w = 160;
    const b = svg('svg', { viewBox: '0 0 ' + w + ' 14', class: 'membar', width: w, height: 14 });
    b.append(svg('rect', { x: 0, y: 0, width: w, height: 14, class: 'membar-bg' }));
    if (n.memoryUsed != null) b.append(svg('rect', { x: 0, y: 2, width: (n.memoryUsed / total) * w, height: 10, class: 'membar-used' }));
    const rx = Math.min(w - 1, (n.memoryRequests / total) * w);
    b.append(svg('line', { x1: rx, x2: rx, y1: 0, y2: 14, class: 'membar-req' }));
    b.append(title('used ' + fmtBytes(n.memoryUsed) + ' · requested ' + fmtBytes(n.memoryRequests) + ' · allocatable ' + fmtBytes(n.memoryAllocatable)));
    return b;
  }

  // ---- pages -------------------------------------------------------------

  function overview(d) {
    const open = d.openIncidents.length;
    const cards = el('div', { class: 'cards' },
      el('div', { class: 'card' }, el('strong', {}, String(d.nodes.length)), ' nodes'),
      el('div', { class: 'card' + (d.notReady ? ' bad' : '') }, el('strong', {}, String(d.notReady)), ' not Ready'),
      el('div', { class: 'card' }, el('strong', {}, String(d.pods)), ' pods'),
      el('div', { class: 'card' + (open ? ' bad' : '') }, el('strong', {}, String(open)), ' open incidents'));
    const growing = d.growing.length === 0 ? empty(d.history ? 'No container grew in this time range.' : 'No history.') :
      table(['Pod', 'Container', 'Workload', 'Node', 'Growth', 'Now', 'Limit', 'Leak verdict'], d.growing.map((g) => [
        podLink(g.namespace, g.pod), g.container, (g.workloadKind || '') + '/' + (g.workload || ''), nodeLink(g.node), fmtBytes(g.bytesPerHour) + '/h',
        fmtBytes(g.last), g.memoryLimit == null ? badge('no limit', 'warn') : fmtBytes(g.memoryLimit),
        el('span', { class: g.verdict.leak ? 'verdict leak' : 'verdict' }, (g.verdict.leak ? 'LEAK: ' : '') + g.verdict.reason)]), 'growing');
    const nodes = table(['Node', 'Status', 'Lease', 'Memory (used · requested | allocatable)', 'Used', 'Requested', 'Allocatable', 'Pods', 'No limit', 'Major faults', 'Incidents'],
      d.nodes.map((n) => [nodeLink(n.name), el('span', {}, statusBadge(n.ready), n.unschedulable ? badge('cordoned', 'warn') : null, (n.pressure || []).map((p) => badge(p, 'warn'))),
        n.leaseAgeSeconds == null ? '–' : fmtDuration(n.leaseAgeSeconds * 1000) + ' ago', memBar(n), fmtBytes(n.memoryUsed), fmtBytes(n.memoryRequests),
        fmtBytes(n.memoryAllocatable), String(n.pods), n.podsWithoutMemoryLimit ? String(n.podsWithoutMemoryLimit) : '0',
        n.majorFaultsPerSecond == null ? '–' : fmtValue(n.majorFaultsPerSecond, 'faults/s'), n.openIncidents ? badge(String(n.openIncidents), 'bad') : '']), 'nodes');
    return [el('h1', {}, 'Overview'), warnings(d), cards,
      section('Cluster memory', drawChart(d.memory, d.range, { title: 'Working set of all nodes against requests and allocatable', empty: d.history ? 'No samples yet' : 'No resource history' })),
      section('Open incidents', incidentsTable(d.openIncidents)),
      section('Fastest-growing pods', growing),
      section('Nodes', nodes)];
  }

  function node(d) {
    const n = d.node;
    const ready = (d.conditions || []).find((c) => c.type === 'Ready');
    const facts = el('dl', { class: 'facts' },
      el('dt', {}, 'Status'), el('dd', {}, statusBadge(n.ready), n.unschedulable ? badge('cordoned', 'warn') : null, (n.pressure || []).map((p) => badge(p, 'warn'))),
      el('dt', {}, 'Ready'), el('dd', {}, ready ? (ready.reason || ready.status) + (ready.message ? ' — ' + ready.message : '') + ' (since ' + fmtTime(ready.since) + ')' : '–'),
      el('dt', {}, 'Lease renewed'), el('dd', {}, n.leaseAgeSeconds == null ? 'no Lease' : fmtDuration(n.leaseAgeSeconds * 1000) + ' ago'),
      el('dt', {}, 'Memory'), el('dd', {}, 'used ' + fmtBytes(n.memoryUsed) + ' · requested ' + fmtBytes(n.memoryRequests) + ' · allocatable ' + fmtBytes(n.memoryAllocatable)),
      el('dt', {}, 'Major page faults'), el('dd', {}, n.majorFaultsPerSecond == null ? '–' : fmtValue(n.majorFaultsPerSecond, 'faults/s')),
      el('dt', {}, 'Taints'), el('dd', {}, d.taints.length ? d.taints.join(', ') : 'none'));
    const pods = d.pods.length === 0 ? empty('No pods on this node.') : table(['Pod', 'Workload', 'Phase', 'QoS', 'Memory (last)', 'Request', 'Limit', 'Restarts'], d.pods.map((p) => [
      podLink(p.namespace, p.name), workload(p.owner), p.phase, p.qos, fmtBytes(p.memoryUsed), fmtBytes(p.memoryRequest),
      p.memoryLimit == null ? badge('no limit', 'warn') : fmtBytes(p.memoryLimit), String(p.restarts)]), 'pods');
    return [el('h1', {}, 'Node ', el('span', { class: 'name' }, n.name), ' ', statusBadge(n.ready)), warnings(d), facts,
      drawTimeline(d.timeline, d.range),
      section('Memory', drawChart(d.memory, d.range, { title: 'Its pods\' working sets (stacked) with the node\'s major page faults', empty: d.history ? 'No samples in this range' : 'No resource history' })),
      section('Pods', pods), section('Events', eventsTable(d.events)), section('Incidents', incidentsTable(d.incidents))];
  }

  function pod(d) {
    const facts = el('dl', { class: 'facts' },
      el('dt', {}, 'Node'), el('dd', {}, nodeLink(d.node)),
      el('dt', {}, 'Workload'), el('dd', {}, el('span', { class: 'workload' }, workload(d.owner))),
      el('dt', {}, 'Phase'), el('dd', {}, d.inCluster ? d.phase + (d.reason ? ' (' + d.reason + ')' : '') : 'no longer in the cluster (from the history)'),
      el('dt', {}, 'QoS'), el('dd', {}, d.qos || '–'),
      el('dt', {}, 'Restarts'), el('dd', {}, String(d.restarts)));
    if (d.message) facts.append(el('dt', {}, 'Message'), el('dd', { class: 'message' }, d.message));
    const verdicts = d.verdicts.length === 0 ? empty('No memory history to judge.') : el('div', { class: 'verdicts' }, d.verdicts.map((v) =>
      el('div', { class: 'verdict-box ' + (v.verdict.leak ? 'leak' : v.verdict.enoughData ? 'ok' : 'unknown') },
        el('strong', {}, v.container + ': ' + (v.verdict.leak ? 'memory leak' : v.verdict.enoughData ? 'no leak' : 'not enough data')),
        el('p', {}, v.verdict.reason),
        v.verdict.enoughData ? el('p', { class: 'muted' }, 'growth ' + fmtBytes(v.verdict.bytesPerHour) + '/h overall, ' + fmtBytes(v.verdict.recentBytesPerHour) + '/h lately · confidence ' + Math.round(100 * v.verdict.confidence) + '% · ' + v.verdict.restarts + ' restarts seen') : null,
        v.forecast ? el('p', { class: 'forecast' }, 'Forecast: ' + v.forecast) : null)));
    const containers = table(['Container', 'Memory request', 'Memory limit', 'CPU request', 'CPU limit', 'Restarts', 'State', 'Last termination'], d.containers.map((c) => [
      c.name + (c.init ? (c.sidecar ? ' (sidecar)' : ' (init)') : ''), fmtBytes(c.memoryRequest), c.memoryLimit == null ? badge('no limit', 'warn') : fmtBytes(c.memoryLimit),
      c.cpuRequestMillis == null ? '–' : c.cpuRequestMillis + 'm', c.cpuLimitMillis == null ? '–' : c.cpuLimitMillis + 'm', String(c.restarts), c.waiting || '',
      c.lastTermination ? c.lastTermination.Reason + ' (exit ' + c.lastTermination.ExitCode + ') ' + fmtTime(c.lastTermination.FinishedAt) : '']), 'containers');
    return [el('h1', {}, 'Pod ', el('span', { class: 'name' }, d.namespace + '/' + d.name)), warnings(d), facts,
      section('Leak verdict', verdicts),
      section('Memory', drawChart(d.memory, d.range, { title: 'Working set per container, with the pod\'s request and limit; restarts and OOM kills marked' })),
      section('CPU', drawChart(d.cpu, d.range, { title: 'CPU per container, with the pod\'s request and limit' })),
      section('Containers', containers), section('Events', eventsTable(d.events))];
  }

  function incidents(d) {
    return [el('h1', {}, 'Incidents'), warnings(d), el('p', { class: 'muted' }, d.total + ' incidents recorded' + (d.total > d.incidents.length ? ', the ' + d.incidents.length + ' most relevant shown' : '')),
      section('Incidents', incidentsTable(d.incidents)),
      section('Suspects', el('p', { class: 'muted' }, 'Workloads ranked by how much more often they were on failed nodes than their spread explains, with missing limits and leaks as evidence.'), suspectsTable(d.suspects))];
  }

  function incident(d) {
    const i = d.incident;
    const facts = el('dl', { class: 'facts' },
      el('dt', {}, 'Rule'), el('dd', {}, i.rule, ' ', severityBadge(i.severity, i.status)),
      i.node ? [el('dt', {}, 'Node'), el('dd', {}, nodeLink(i.node))] : null,
      i.workload ? [el('dt', {}, 'Workload'), el('dd', {}, el('span', { class: 'workload' }, i.workload))] : null,
      el('dt', {}, 'Started'), el('dd', {}, fmtTime(i.start) + (i.since ? ' (condition since ' + fmtTime(i.since) + ')' : '')),
      el('dt', {}, 'Ended'), el('dd', {}, i.end ? fmtTime(i.end) : 'still open'),
      el('dt', {}, 'Reason'), el('dd', { class: 'message' }, [i.reason, i.message].filter(Boolean).join(' — ') || '–'));
    const lc = i.likelyCause;
    const likely = lc ? el('div', { class: 'cause' },
      el('h2', {}, 'Likely cause (from the history before the failure)'),
      el('p', {}, el('strong', {}, lc.summary)),
      lc.pod ? el('p', {}, 'Pod ', podLink(lc.namespace, lc.pod), ' of ', el('span', { class: 'workload' }, lc.kind + ' ' + lc.namespace + '/' + lc.name),
        lc.growthBytesPerHour ? ' — grew ' + fmtBytes(lc.growthBytesPerHour) + '/h, ' + fmtBytes(lc.memoryAtFailure) + ' at failure, limit ' + (lc.memoryLimit == null ? 'none' : fmtBytes(lc.memoryLimit)) : '') : null,
      el('ul', { class: 'evidence' }, (lc.evidence || []).map((e) => el('li', {}, e)))) : null;
    const cause = d.cause ? el('div', { class: 'cause' },
      el('h2', {}, 'Top suspect on this node'),
      el('p', {}, el('strong', { class: 'workload' }, d.cause.kind + ' ' + d.cause.namespace + '/' + d.cause.name), ' — score ' + d.cause.score.toFixed(1)),
      el('ul', { class: 'evidence' }, (d.cause.evidence || []).map((e) => el('li', {}, e)))) : null;
    const steps = el('ol', { class: 'steps' }, d.timeline.map((s) => el('li', { class: 'step-' + s.kind }, el('time', {}, fmtTime(s.time)), ' ', s.text, s.detail ? el('span', { class: 'message' }, ' — ' + s.detail) : null)));
    const pods = d.pods.length === 0 ? empty('No pods recorded with this incident.') : table(['Pod', 'Workload', 'QoS', 'Memory at failure', 'Request', 'Limit', 'Restarts'], d.pods.map((p) => [
      podLink(p.namespace, p.name), workload(p.owner), p.qos, fmtBytes(p.memoryAtFailure), fmtBytes(p.memoryRequest),
      p.memoryLimit == null ? badge('no limit', 'warn') : fmtBytes(p.memoryLimit), String(p.restarts)]), 'pods');
    return [el('h1', {}, 'Incident ', el('span', { class: 'name' }, i.id)), warnings(d), facts, likely, cause,
      section('Timeline', steps),
      section('Memory around the failure', drawChart(d.memory, d.range, { title: i.node ? 'Pods on the node (stacked) with its major page faults' : 'The workload\'s pods' })),
      section('Pods on the node when it failed', pods),
      section('Events', eventsTable((i.events || []).slice().reverse())),
      i.node ? section('Kubelet log', kubeletLog(i)) : null,
      section('Suspects', suspectsTable(d.suspects))];
  }

  // kubeletLog is the end of the node's kubelet log kept with the incident
  // (read through the API server's node proxy), or why there is none.
  function kubeletLog(i) {
    if ((i.kubeletLog || []).length) {
      return [el('p', { class: 'muted' }, 'Its last lines from the minutes before the failure.'), el('pre', { class: 'script kubelet-log' }, i.kubeletLog.join('\n'))];
    }
    return empty(i.kubeletLogMissing || 'No kubelet log kept with this incident.');
  }

  const SEVERITY = { critical: 'bad', warning: 'warn', info: '' };

  function workloadCell(ns, w) {
    if (w.kind === 'Pod') return podLink(ns, w.name);
    return el('span', { class: 'workload' }, w.kind + '/' + w.name);
  }

  function containerNames(cs) {
    if (!cs || cs.length === 0) return '–';
    return cs.map((c) => c.name + (c.type && c.type !== 'app' ? ' (' + c.type + ')' : '')).join(', ');
  }

  // audit is `nodewatch audit -o json` as a table, a one-line fix per finding.
  function audit(d) {
    const r = d.report;
    const cards = el('div', { class: 'cards' },
      card(r.critical, 'critical', r.critical ? 'bad' : ''), card(r.warning, 'warning'), card(r.info, 'info'),
      card(r.workloads, 'workloads'), card(r.pods, 'pods'), card(r.namespaces, 'namespaces'));
    const skipped = (r.skipped || []).length ? el('ul', { class: 'skipped muted' }, r.skipped.map((x) => el('li', {}, 'Skipped: ' + x))) : null;
    const rows = r.findings.map((f) => [
      badge(f.severity, SEVERITY[f.severity]),
      f.namespace || '–',
      f.node ? el('span', {}, 'node ', nodeLink(f.node)) : f.workload ? workloadCell(f.namespace, f.workload) : 'the namespace',
      containerNames(f.containers),
      el('div', {}, el('span', { class: 'message' }, f.message),
        f.pods && f.pods < f.podsTotal ? el('span', { class: 'muted' }, ' (' + f.pods + ' of ' + f.podsTotal + ' pods)') : null,
        el('div', { class: 'check muted' }, f.check), f.detail ? el('div', { class: 'detail muted' }, f.detail) : null),
      el('div', { class: 'fix' }, el('code', {}, f.fix), ' ', copyButton(f.fix))]);
    const findings = rows.length === 0 ? empty('No findings: every workload in scope declares its memory and CPU.') :
      table(['Severity', 'Namespace', 'Workload', 'Container', 'Finding', 'Fix'], rows, 'audit');
    return [el('h1', {}, 'Audit'), warnings(d), namespacePicker(d),
      el('p', { class: 'muted' }, 'How every workload declares memory and CPU, as nodewatch audit' + (d.namespace ? ' -n ' + d.namespace : '') +
        ' reports it (audited ' + fmtTime(r.auditedAt) + '). Copy a fix and run it, or change the manifests it names.'),
      cards, skipped, section('Findings', findings)];
  }

  function change(cur, rec, fmt) {
    const now = cur == null ? 'none' : fmt(cur);
    if (rec == null) return now;
    return el('span', { class: 'change' }, now, ' → ', el('strong', {}, fmt(rec)));
  }

  function fmtMilli(m) { return m == null ? '–' : (m >= 1000 && m % 1000 === 0 ? m / 1000 + '' : m + 'm'); }

  // recommendations is `nodewatch recommend -o json` as a table, and each
  // workload's patch as `recommend -o patch` prints it, ready to copy.
  function recommendations(d) {
    const cpuLimits = d.cpuLimits;
    const headers = ['Namespace', 'Workload', 'Container', 'Pods', 'Memory request', 'Memory limit', 'CPU request'];
    if (cpuLimits) headers.push('CPU limit');
    headers.push('Confidence', 'Leak', 'Note');
    const tbody = el('tbody');
    for (const w of d.workloads) {
      for (const c of w.containers || []) {
        const rec = c.recommended || {};
        const cells = [w.namespace, workloadCell(w.namespace, w), c.name + (c.sidecar ? ' (sidecar)' : ''), String(w.pods),
          change(c.current.memoryRequestBytes, rec.memoryRequestBytes, fmtBytes), change(c.current.memoryLimitBytes, rec.memoryLimitBytes, fmtBytes),
          change(c.current.cpuRequestMillicores, rec.cpuRequestMillicores, fmtMilli)];
        if (cpuLimits) cells.push(change(c.current.cpuLimitMillicores, rec.cpuLimitMillicores, fmtMilli));
        cells.push(c.status === 'sized' ? c.confidenceLevel + ' (' + c.confidence.toFixed(2) + ')' : '–',
          c.status === 'leak' ? badge('LEAK', 'bad') : c.status === 'sized' ? 'no' : badge('not enough data', 'warn'),
          el('span', { class: 'message' }, c.note || ''));
        tbody.append(el('tr', { class: 'container-row status-' + c.status, 'data-workload': w.namespace + '/' + w.kind + '/' + w.name }, cells.map((x) => el('td', {}, x))));
      }
      const patch = w.command ? el('div', { class: 'patch' },
        el('pre', { class: 'command' }, w.command), copyButton(w.command, 'Copy kubectl patch'), ' ', copyButton(w.patch, 'Copy the patch (JSON)')) :
        el('span', { class: 'muted' }, 'No patch for ' + w.kind + '/' + w.name + ': ' + w.noPatch);
      tbody.append(el('tr', { class: 'patch-row', 'data-workload': w.namespace + '/' + w.kind + '/' + w.name }, el('td', { colspan: headers.length }, patch)));
    }
    const recs = d.workloads.length === 0 ? empty(d.history ? 'No workloads in scope.' : 'No resource history: nothing to size from.') :
      el('table', { class: 'recommendations' }, el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))), tbody);
    const source = d.resolution === '5m' ? '5-minute maxima' : 'raw samples';
    return [el('h1', {}, 'Recommendations'), warnings(d), namespacePicker(d),
      el('p', { class: 'muted' }, 'Memory and CPU sized per workload from ' + d.since + ' of history (' + source + '; the time range picks it), as nodewatch recommend' +
        (d.namespace ? ' -n ' + d.namespace : ' -A') + ' --since ' + d.since + ' sizes them. A container needs ' + d.minHistory + ' and ' + d.minSamples +
        ' samples; a leak gets no size. Computed ' + fmtTime(d.generated) +
        (d.refreshing ? '; a fresh report is being computed and shows when the page next loads.' : '.')),
      el('div', { class: 'cards' },
        card(fmtBytes(d.memoryReservedBeforeBytes), 'memory reserved now'), card(fmtBytes(d.memoryReservedAfterBytes), 'with the recommendations'),
        card(d.workloads.filter((w) => w.command).length, 'workloads with a patch')),
      section('Workloads', recs),
      d.script ? section('All patches', el('p', { class: 'muted' }, 'The same patches as one script (nodewatch recommend -o patch): review it, then run it with sh.'),
        el('pre', { class: 'script' }, d.script), copyButton(d.script, 'Copy the script')) : null];
  }

  // pending is a page whose report the server is still computing (the
  // recommendations for a large cluster over days take a while).
  function pending(d) {
    return [el('h1', {}, document.title), warnings(d),
      el('p', { class: 'pending' }, 'Computing the recommendations for ' + (d.namespace ? 'namespace ' + d.namespace : 'every namespace') + ' from ' +
        currentRange() + ' of history (started ' + fmtTime(d.pending.since) + '). They show here when they are ready.')];
  }

  // ---- wiring ------------------------------------------------------------

  const pages = {
    overview: { api: () => '/api/ui/overview', render: overview },
    node: { api: () => '/api/ui/nodes/' + encodeURIComponent(body.dataset.node), render: node },
    pod: { api: () => '/api/ui/pods/' + encodeURIComponent(body.dataset.namespace) + '/' + encodeURIComponent(body.dataset.pod), render: pod },
    incidents: { api: () => '/api/ui/incidents', render: incidents },
    incident: { api: () => '/api/ui/incidents/' + encodeURIComponent(body.dataset.incident), render: incident },
    audit: { api: () => '/api/ui/audit', render: audit },
    recommendations: { api: () => '/api/ui/recommendations', render: recommendations },
  };

  async function load() {
    const p = pages[body.dataset.page];
    if (!p) return;
    try {
      const d = await getJSON(p.api());
      if (d.pending) {
        // The server waits a while for the report on each ask: ask again.
        main.replaceChildren(...pending(d).flat().filter(Boolean));
        body.dataset.pending = String(Date.now());
        setTimeout(load, 200);
        return;
      }
      delete body.dataset.pending;
      main.replaceChildren(...p.render(d).flat().filter(Boolean));
      body.dataset.loaded = String(Date.now());
    } catch (e) {
      main.replaceChildren(el('h1', {}, document.title), el('p', { class: 'error' }, 'Could not load this page: ' + e.message));
      body.dataset.loaded = 'error';
    }
  }

  // The audit reads the cluster as it is now: no time range.
  if (body.dataset.page === 'audit') rangeSel.closest('label').hidden = true;
  rangeSel.value = currentRange();
  if (rangeSel.value !== currentRange()) {
    rangeSel.append(el('option', { value: currentRange() }, currentRange()));
    rangeSel.value = currentRange();
  }
  rangeSel.addEventListener('change', () => {
    params.set('range', rangeSel.value);
    history.replaceState(null, '', location.pathname + '?' + params.toString());
    load();
  });
  load();
  setInterval(() => { if (!document.hidden) load(); }, 60e3);
})();
