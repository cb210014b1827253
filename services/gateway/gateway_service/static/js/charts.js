// Two small SVG charts, no library: a genre radar and a 2-D taste map.

import { s } from "./dom.js";

const TAU = Math.PI * 2;

/**
 * Genre radar. axes: [{label, value, display}] with value in [0, 1] (fraction of the outer ring).
 * Needs at least 3 axes to form a polygon.
 */
export function radarChart(axes, { size = 320, rings = 4 } = {}) {
  // Labels sit beside the left/right vertices, so the box is wider than it is tall.
  const padX = 130;
  const padY = 44;
  const width = size + padX * 2;
  const height = size + padY * 2;
  const cx = width / 2;
  const cy = height / 2;
  const r = size / 2;
  const n = axes.length;
  const angle = (i) => -Math.PI / 2 + (TAU * i) / n;
  const point = (i, frac) => [cx + Math.cos(angle(i)) * r * frac, cy + Math.sin(angle(i)) * r * frac];
  const svg = s("svg", {
    class: "chart radar", viewBox: `0 0 ${width} ${height}`, role: "img", "data-testid": "genre-radar",
    "aria-label": `Genre affinity radar: ${axes.map((a) => `${a.label} ${a.display ?? ""}`).join(", ")}`,
  });
  const grid = s("g", { class: "radar-grid" });
  for (let k = 1; k <= rings; k += 1) {
    const pts = axes.map((_, i) => point(i, k / rings).join(",")).join(" ");
    grid.append(s("polygon", { points: pts }));
  }
  axes.forEach((_, i) => {
    const [x, y] = point(i, 1);
    grid.append(s("line", { x1: cx, y1: cy, x2: x, y2: y }));
  });
  svg.append(grid);
  const shape = axes.map((a, i) => point(i, Math.max(0.02, Math.min(1, a.value))).join(",")).join(" ");
  svg.append(s("polygon", { class: "radar-area", points: shape }));
  axes.forEach((a, i) => {
    const [x, y] = point(i, Math.max(0.02, Math.min(1, a.value)));
    svg.append(s("circle", { class: "radar-dot", cx: x, cy: y, r: 4 },
      s("title", {}, `${a.label}: ${a.display ?? a.value}`)));
    const [lx, ly] = point(i, 1.1);
    const anchor = Math.abs(lx - cx) < 8 ? "middle" : lx > cx ? "start" : "end";
    svg.append(s("text", { class: "radar-label", x: lx, y: ly, "text-anchor": anchor, "dominant-baseline": "middle" },
      a.label, a.display !== undefined ? s("tspan", { class: "radar-value", dx: 6 }, String(a.display)) : null));
  });
  return svg;
}

/**
 * Taste Wrapped's radar "then vs now": several series on the same fixed axes, overlaid.
 * axes: [label]; series: [{key, label, cls, values: [lean −1…1 per axis]}]. 0 (the average movie) is the
 * middle ring; the scale is ±`extent` (the largest |lean| of every series the caller may show, so adding an
 * overlay never rescales the others).
 */
export function compareRadar(axes, series, { size = 320, rings = 4, extent } = {}) {
  const padX = 110;
  const padY = 40;
  const width = size + padX * 2;
  const height = size + padY * 2;
  const cx = width / 2;
  const cy = height / 2;
  const r = size / 2;
  const n = axes.length;
  const limit = (extent || Math.max(...series.flatMap((x) => x.values.map(Math.abs))) || 1) * 1.1;
  const frac = (v) => Math.max(0.02, Math.min(1, 0.5 + v / (2 * limit)));
  const angle = (i) => -Math.PI / 2 + (TAU * i) / n;
  const point = (i, f) => [cx + Math.cos(angle(i)) * r * f, cy + Math.sin(angle(i)) * r * f];
  const svg = s("svg", {
    class: "chart radar compare-radar", viewBox: `0 0 ${width} ${height}`, role: "img", "data-testid": "taste-radar",
    "aria-label": `Genre lean: ${series.map((x) => x.label).join(" vs ")} on ${axes.join(", ")}`,
  });
  const grid = s("g", { class: "radar-grid" });
  for (let k = 1; k <= rings; k += 1) {
    grid.append(s("polygon", { class: k * 2 === rings ? "radar-mid" : "", points: axes.map((_, i) => point(i, k / rings).join(",")).join(" ") }));
  }
  axes.forEach((_, i) => {
    const [x, y] = point(i, 1);
    grid.append(s("line", { x1: cx, y1: cy, x2: x, y2: y }));
  });
  svg.append(grid);
  for (const one of series) {
    const pts = one.values.map((v, i) => point(i, frac(v)).join(",")).join(" ");
    svg.append(s("polygon", { class: `radar-series ${one.cls || ""}`, "data-series": one.key, points: pts },
      s("title", {}, `${one.label}: ${axes.map((a, i) => `${a} ${one.values[i] >= 0 ? "+" : ""}${one.values[i].toFixed(2)}`).join(", ")}`)));
  }
  axes.forEach((label, i) => {
    const [lx, ly] = point(i, 1.1);
    const anchor = Math.abs(lx - cx) < 8 ? "middle" : lx > cx ? "start" : "end";
    svg.append(s("text", { class: "radar-label", x: lx, y: ly, "text-anchor": anchor, "dominant-baseline": "middle" }, label));
  });
  return svg;
}

const MAP_STYLE = {
  you: { r: 11, cls: "pt-you", legend: "You" },
  average: { r: 8, cls: "pt-average", legend: "Average viewer" },
  critic: { r: 8, cls: "pt-critic", legend: "Critic consensus" },
  top: { r: 6, cls: "pt-top", legend: "Your top movies" },
  nearby: { r: 4.5, cls: "pt-nearby", legend: "Nearby titles" },
};

/**
 * Taste map. points: [{kind: you|average|critic|top|nearby, label, x, y}] in any coordinate
 * range; the chart fits them to its box. Labels are drawn for the big markers and top movies,
 * nearby titles label on hover (their <title>) to keep the map readable.
 */
export function tasteMap(points, { width = 640, height = 440, onPick, path = [], axisNames = null, onAnchor } = {}) {
  const pad = 48;
  const xs = [...points, ...path].map((p) => p.x);
  const ys = [...points, ...path].map((p) => p.y);
  const [minX, maxX] = [Math.min(...xs), Math.max(...xs)];
  const [minY, maxY] = [Math.min(...ys), Math.max(...ys)];
  const spanX = maxX - minX || 1;
  const spanY = maxY - minY || 1;
  const px = (x) => pad + ((x - minX) / spanX) * (width - pad * 2);
  const py = (y) => height - pad - ((y - minY) / spanY) * (height - pad * 2); // up is +y
  const svg = s("svg", { class: "chart taste-map", viewBox: `0 0 ${width} ${height}`, role: "img",
    "data-testid": "taste-map", "aria-label": "Taste map: you, the average viewer, critic consensus and movies near you" });
  svg.append(s("rect", { class: "map-bg", x: 0, y: 0, width, height, rx: 16 }));
  const you = points.find((p) => p.kind === "you");
  if (you) {
    for (const radius of [60, 120, 180]) {
      svg.append(s("circle", { class: "map-ring", cx: px(you.x), cy: py(you.y), r: radius }));
    }
  }
  if (axisNames && axisNames.length === 2) {
    const [ax, ay] = axisNames;
    svg.append(s("text", { class: "map-axis", x: 12, y: height - 12, "text-anchor": "start" }, `← ${truncate(ax.negative, 30)}`));
    svg.append(s("text", { class: "map-axis", x: width - 12, y: height - 12, "text-anchor": "end" }, `${truncate(ax.positive, 30)} →`));
    svg.append(s("text", { class: "map-axis", x: 16, y: height - 34, transform: `rotate(-90 16 ${height - 34})`, "text-anchor": "start" },
      `← ${truncate(ay.negative, 30)}`));
    svg.append(s("text", { class: "map-axis", x: 16, y: 34, transform: `rotate(-90 16 34)`, "text-anchor": "end" },
      `${truncate(ay.positive, 30)} →`));
  }
  if (path.length) {
    // Your taste through time: one dot per day (oldest first), joined, then a dashed step to "you" now.
    const trail = s("g", { class: "map-path", "data-testid": "taste-path" });
    trail.append(s("polyline", { class: "path-line", points: path.map((p) => `${px(p.x)},${py(p.y)}`).join(" ") }));
    if (you) {
      const last = path[path.length - 1];
      trail.append(s("line", { class: "path-now", x1: px(last.x), y1: py(last.y), x2: px(you.x), y2: py(you.y) }));
    }
    path.forEach((p, i) => {
      trail.append(s("circle", { class: i === 0 ? "path-dot path-first" : "path-dot", cx: px(p.x), cy: py(p.y), r: i === 0 ? 5 : 3.5,
        "data-day": p.day }, s("title", {}, `Your taste on ${p.day}`)));
    });
    if (path.length > 1) {
      trail.append(s("text", { class: "map-label path-label", x: px(path[0].x) + 8, y: py(path[0].y) - 8 }, `then · ${path[0].day}`));
    }
    svg.append(trail);
  }
  const order = ["nearby", "top", "average", "critic", "you"]; // draw the important markers last (on top)
  const placed = [];
  for (const kind of order) {
    for (const p of points.filter((q) => q.kind === kind)) {
      const style = MAP_STYLE[kind] || MAP_STYLE.nearby;
      const x = px(p.x);
      const y = py(p.y);
      const group = s("g", { class: `map-point ${style.cls}`, "data-kind": kind, tabindex: p.movieId ? 0 : undefined });
      if (kind === "you") group.append(s("circle", { class: "pt-glow", cx: x, cy: y, r: style.r * 2.2 }));
      group.append(s("circle", { cx: x, cy: y, r: style.r }, s("title", {}, p.label || style.legend)));
      if (kind !== "nearby") {
        const label = placeLabel(x, y, style.r, placed, width);
        group.append(s("text", { class: "map-label", x: label.x, y: label.y, "text-anchor": label.anchor },
          truncate(p.label || style.legend, 28)));
      }
      if (p.movieId && onPick) {
        group.style.cursor = "pointer";
        group.addEventListener("click", () => onPick(p));
      } else if ((kind === "average" || kind === "critic") && onAnchor) {
        // a reference point: clicking it overlays its genre radar (Taste Wrapped)
        group.style.cursor = "pointer";
        group.setAttribute("tabindex", 0);
        group.setAttribute("role", "button");
        group.addEventListener("click", () => onAnchor(p));
        group.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") onAnchor(p); });
      }
      svg.append(group);
    }
  }
  return svg;
}

function truncate(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Put a label right of its marker, or left/above/below when that spot is taken. */
function placeLabel(x, y, r, placed, width) {
  const candidates = [
    { x: x + r + 6, y: y + 4, anchor: "start" },
    { x: x - r - 6, y: y + 4, anchor: "end" },
    { x, y: y - r - 8, anchor: "middle" },
    { x, y: y + r + 16, anchor: "middle" },
  ];
  const box = (cand) => {
    const w = 150;
    const left = cand.anchor === "start" ? cand.x : cand.anchor === "end" ? cand.x - w : cand.x - w / 2;
    return { left, right: left + w, top: cand.y - 12, bottom: cand.y + 4 };
  };
  const overlaps = (a) => placed.some((b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom);
  let chosen = candidates.find((cand) => {
    const b = box(cand);
    return !overlaps(b) && b.left >= 0 && b.right <= width;
  });
  if (!chosen) chosen = x > width * 0.7 ? candidates[1] : candidates[0];
  placed.push(box(chosen));
  return chosen;
}

export const MAP_LEGEND = MAP_STYLE;

/** A 384-d (or any) vector as a thin strip of coloured cells: a glanceable "taste fingerprint". */
export function vectorStrip(vector, { cells = 96 } = {}) {
  const svg = s("svg", { class: "vector-strip", viewBox: `0 0 ${cells} 10`, preserveAspectRatio: "none",
    role: "img", "aria-label": `Taste vector with ${vector.length} dimensions`, "data-testid": "vector-strip" });
  const chunk = Math.max(1, Math.floor(vector.length / cells));
  const values = [];
  for (let i = 0; i < cells && i * chunk < vector.length; i += 1) {
    const part = vector.slice(i * chunk, (i + 1) * chunk);
    values.push(part.reduce((a, b) => a + b, 0) / part.length);
  }
  const peak = Math.max(...values.map(Math.abs)) || 1;
  values.forEach((v, i) => {
    const t = v / peak; // -1..1
    const hue = t >= 0 ? 28 : 265;
    const light = 18 + Math.abs(t) * 45;
    svg.append(s("rect", { x: i, y: 0, width: 1.02, height: 10, fill: `hsl(${hue} 85% ${light}%)` }));
  });
  return svg;
}
