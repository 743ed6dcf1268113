// camposer dashboard: upload a photo, show the pose as numbers, on the floor plan (raw, with
// heading and 95 % ellipse) and on the walkable map (snapped), with a trail of earlier queries.
// Map pictures have one pixel per cell, row 0 = largest y (nav2 map_server convention).
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const state = { map: null, trail: [], trailLength: 20, busy: false };
const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ errors

function showError(message) {
  $("error-text").textContent = message;
  $("error-banner").hidden = false;
}
function clearError() {
  $("error-banner").hidden = true;
  $("error-text").textContent = "";
}
$("error-close").addEventListener("click", clearError);

async function errorMessage(response) {
  let detail = response.statusText || "request failed";
  try {
    const body = await response.json();
    if (body && body.detail) detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch (e) { /* not JSON */ }
  return `${detail} (HTTP ${response.status})`;
}

// ------------------------------------------------------------------ map geometry

function worldToPixel(x, y) {
  // map-frame metres -> picture pixels (x right, y down; (0, 0) = top-left corner of the picture)
  const m = state.map;
  const [ox, oy, yaw] = m.origin;
  const dx = x - ox, dy = y - oy;
  const c = Math.cos(yaw), s = Math.sin(yaw);
  const lx = c * dx + s * dy, ly = -s * dx + c * dy;
  return [lx / m.resolution_m, m.height - ly / m.resolution_m];
}

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function setupView(svg, url) {
  const m = state.map;
  svg.setAttribute("viewBox", `0 0 ${m.width} ${m.height}`);
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  el("image", { href: url, x: 0, y: 0, width: m.width, height: m.height, class: "map-image", preserveAspectRatio: "none" }, svg);
  el("g", { class: "trail" }, svg);
  el("g", { class: "overlay" }, svg);
}

function clear(g) { while (g.firstChild) g.removeChild(g.firstChild); }

function markerSize() { return Math.max(state.map.width, state.map.height) / 48; }

function drawTrail(svg, key, colour) {
  const g = svg.querySelector(".trail");
  clear(g);
  const pts = state.trail.map((r) => (key === "raw" ? r.position_m : r.snapped && r.snapped.position_m)).filter(Boolean);
  if (pts.length < 2) return;
  const px = pts.map((p) => worldToPixel(p[0], p[1]));
  el("polyline", { points: px.map((p) => p.join(",")).join(" "), class: "trail-line", stroke: colour,
                   "stroke-width": markerSize() * 0.18 }, g);
  const r = markerSize() * 0.35;
  px.slice(0, -1).forEach((p, i) => {
    el("circle", { cx: p[0], cy: p[1], r, class: "trail-dot", fill: colour, opacity: 0.25 + 0.5 * (i + 1) / px.length }, g);
  });
}

function drawPose(g, id, xy, headingDeg, colour) {
  const [cx, cy] = worldToPixel(xy[0], xy[1]);
  const s = markerSize();
  const grp = el("g", { id: `${id}-group`, transform: `translate(${cx} ${cy}) rotate(${-headingDeg})` }, g);
  // heading: a shaft and head pointing along +x before the rotation (the optical axis)
  el("path", { d: `M 0 ${-0.22 * s} L ${2.4 * s} ${-0.22 * s} L ${2.4 * s} ${-0.7 * s} L ${3.6 * s} 0 `
                 + `L ${2.4 * s} ${0.7 * s} L ${2.4 * s} ${0.22 * s} L 0 ${0.22 * s} Z`, fill: colour, class: "heading-arrow" }, grp);
  el("circle", { id, cx: 0, cy: 0, r: s * 0.75, fill: colour, class: "marker", "data-px": cx, "data-py": cy }, grp);
  return [cx, cy];
}

function render() {
  if (!state.map || state.trail.length === 0) return;
  const last = state.trail[state.trail.length - 1];
  const res = state.map.resolution_m;
  // floor plan: raw pose, heading, ellipse
  const raw = $("raw-view");
  drawTrail(raw, "raw", "#2563eb");
  const og = raw.querySelector(".overlay");
  clear(og);
  const [cx, cy] = worldToPixel(last.position_m[0], last.position_m[1]);
  const e = last.ellipse_95;
  if (e) {
    el("ellipse", { id: "raw-ellipse", cx, cy, rx: Math.max(e.semi_major_m / res, 0.5), ry: Math.max(e.semi_minor_m / res, 0.5),
                    transform: `rotate(${-e.angle_deg} ${cx} ${cy})`, class: "ellipse" }, og);
  }
  drawPose(og, "raw-marker", last.position_m, last.heading_deg, "#2563eb");
  // walkable map: snapped pose (and where the raw one was)
  const snap = $("snapped-view");
  drawTrail(snap, "snapped", "#16a34a");
  const sg = snap.querySelector(".overlay");
  clear(sg);
  if (last.snapped) {
    const [sx, sy] = worldToPixel(last.snapped.position_m[0], last.snapped.position_m[1]);
    el("line", { x1: cx, y1: cy, x2: sx, y2: sy, class: "snap-line", "stroke-width": markerSize() * 0.2 }, sg);
    el("circle", { cx, cy, r: markerSize() * 0.45, class: "ghost" }, sg);
    drawPose(sg, "snapped-marker", last.snapped.position_m, last.heading_deg, "#16a34a");
  }
}

// ------------------------------------------------------------------ numbers

const f2 = (v) => v.toFixed(2);
function showNumbers(r) {
  $("numbers-empty").hidden = true;
  $("numbers").hidden = false;
  const p = r.position_m;
  $("n-position").textContent = `x ${f2(p[0])}  y ${f2(p[1])}  z ${f2(p[2])} m  (${r.frame_id})`;
  $("n-heading").textContent = `${r.heading_deg.toFixed(1)}°`;
  $("n-quat").textContent = r.quaternion_wxyz.map((v) => v.toFixed(3)).join("  ");
  $("n-snapped").textContent = r.snapped
    ? `x ${f2(r.snapped.position_m[0])}  y ${f2(r.snapped.position_m[1])} m (moved ${f2(r.snapped.distance_m)})`
    : "no walkable map";
  $("n-refine").textContent = r.refine.status + (r.refine.inliers ? ` (${r.refine.inliers} inliers)` : "");
  const c = r.covariance;
  const e = r.ellipse_95;
  $("n-sigma").textContent = c && e
    ? `${f2(Math.sqrt(c[0][0]))}, ${f2(Math.sqrt(c[1][1]))} m (${e.semi_major_m.toFixed(2)} × ${e.semi_minor_m.toFixed(2)} m)`
    : "—";
  const t = r.timings_ms;
  $("n-timings").textContent = Object.entries(t).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(" · ") + " ms";
  $("n-image").textContent = `${r.image.width} × ${r.image.height} px`;
}

function showLost(r) {
  $("numbers-empty").hidden = true;
  $("numbers").hidden = false;
  for (const id of ["n-position", "n-heading", "n-quat", "n-snapped", "n-sigma"]) $(id).textContent = "—";
  $("n-refine").textContent = `lost${r.refine.inliers ? ` (${r.refine.inliers} inliers)` : ""}`;
  $("n-timings").textContent = Object.entries(r.timings_ms).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(" · ") + " ms";
  $("n-image").textContent = `${r.image.width} × ${r.image.height} px`;
}

// ------------------------------------------------------------------ upload

async function localize(file) {
  if (!file) return;
  if (state.busy) { showError("still localizing the previous photo; wait a moment"); return; }
  state.busy = true;
  $("busy").hidden = false;
  $("drop-zone").classList.add("working");
  try {
    const form = new FormData();
    form.append("file", file, file.name || "photo.jpg");
    const response = await fetch("/localize", { method: "POST", body: form });
    if (!response.ok) { showError(await errorMessage(response)); return; }
    const result = await response.json();
    clearError();
    const photo = $("photo");
    if (photo.src) URL.revokeObjectURL(photo.src);
    photo.src = URL.createObjectURL(file);
    photo.hidden = false;
    if (!result.position_m) {
      showError(`${file.name || "photo"}: no pose: the photo could not be localized (lost)`);
      showLost(result);
    } else {
      state.trail.push(result);
      while (state.trail.length > state.trailLength) state.trail.shift();
      showNumbers(result);
      render();
    }
    document.body.dataset.queries = String(Number(document.body.dataset.queries || 0) + 1);
  } catch (e) {
    showError(`could not reach the server: ${e.message}`);
  } finally {
    state.busy = false;
    $("busy").hidden = true;
    $("drop-zone").classList.remove("working");
  }
}

$("file-input").addEventListener("change", (ev) => { localize(ev.target.files[0]); ev.target.value = ""; });
$("capture-input").addEventListener("change", (ev) => { localize(ev.target.files[0]); ev.target.value = ""; });

const zone = $("drop-zone");
["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (ev) => { ev.preventDefault(); zone.classList.add("over"); }));
["dragleave", "drop"].forEach((t) => zone.addEventListener(t, (ev) => { ev.preventDefault(); zone.classList.remove("over"); }));
zone.addEventListener("drop", (ev) => localize(ev.dataTransfer.files[0]));

// ------------------------------------------------------------------ camera

let stream = null;
function stopCamera() {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  $("camera-box").hidden = true;
}
$("camera-button").addEventListener("click", async () => {
  if (!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)) {
    // no live camera here (e.g. plain http from another machine): the phone's own camera app
    $("capture-label").hidden = false;
    $("camera-button").hidden = true;
    showError("live camera not available in this browser context; use “Take photo” or pick a file");
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    $("camera-video").srcObject = stream;
    $("camera-box").hidden = false;
  } catch (e) {
    showError(`camera not available: ${e.message}`);
  }
});
$("camera-stop").addEventListener("click", stopCamera);
$("camera-snap").addEventListener("click", () => {
  const v = $("camera-video");
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  c.getContext("2d").drawImage(v, 0, 0);
  c.toBlob((blob) => localize(new File([blob], "camera.jpg", { type: "image/jpeg" })), "image/jpeg", 0.92);
});

// ------------------------------------------------------------------ start-up

async function init() {
  try {
    const h = await fetch("/health");
    if (h.ok) {
      const info = await h.json();
      state.trailLength = info.trail_length || state.trailLength;
      const name = info.model.split("/").slice(-2).join("/");
      $("server-info").textContent = `${info.model_kind} ${name} · frame ${info.map_frame} · v${info.version}`;
    }
    const r = await fetch("/map");
    if (r.ok) {
      state.map = await r.json();
      setupView($("raw-view"), state.map.floorplan_url);
      setupView($("snapped-view"), state.map.walkable_url);
      document.body.dataset.mapReady = "1";
    } else {
      const msg = await errorMessage(r);
      for (const id of ["raw-card", "snapped-card"]) {
        const p = document.createElement("p");
        p.className = "muted";
        p.textContent = msg;
        $(id).querySelector(".map-wrap").replaceWith(p);
      }
      document.body.dataset.mapReady = "0";
    }
  } catch (e) {
    showError(`could not reach the server: ${e.message}`);
  }
}
init();
