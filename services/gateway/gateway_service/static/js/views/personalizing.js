// "Personalizing": runs onboarding for real and lists each pipeline stage the moment the gateway
// reports it done (server-sent events on POST /api/embeddings/generate), with the time the
// server measured for it. Then the first carousels are fetched (warm by now) and home opens.

import { generateEmbedding, getRecommendations } from "../api.js";
import { vectorStrip } from "../charts.js";
import { errorBox, h, sleep } from "../dom.js";
import { humanize } from "../format.js";
import { getSession } from "../session.js";
import { noteProfileVersion, store } from "../store.js";

function formatMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(Number(ms))) return "";
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : ms < 1 ? "<1 ms" : `${Math.round(ms)} ms`;
}

/** One stage of a pipeline answer, whatever its exact field names. */
export function normaliseStage(stage) {
  return {
    name: stage.name || stage.stage || "stage",
    label: stage.label || humanize(stage.name || stage.stage || "stage"),
    ms: stage.ms ?? stage.durationMs ?? stage.elapsedMs ?? null,
    detail: stage.detail || "",
    ok: stage.ok ?? (stage.status ? !/fail|error/i.test(stage.status) : true),
  };
}

function stageRow(stage, state) {
  return h("li", { class: `stage ${state}`, "data-testid": "stage", "data-state": state, "data-stage": stage.name },
    h("span", { class: "stage-icon", "aria-hidden": "true" }),
    h("div", { class: "stage-text" }, h("span", { class: "stage-label" }, stage.label),
      stage.detail ? h("span", { class: "muted small" }, ` — ${stage.detail}`) : null),
    h("span", { class: "stage-time" }, state === "done" ? formatMs(stage.ms) : ""));
}

/** The list of stages: completed rows, then one "working" row that moves down as stages land. */
function stageList() {
  const list = h("ol", { class: "stages", "data-testid": "stages" });
  let working = null;
  const seen = new Set();
  return {
    list,
    working(label) {
      if (working) working.remove();
      working = stageRow({ name: "working", label }, "running");
      list.append(working);
    },
    done(stage) {
      if (seen.has(stage.name)) return; // the result repeats the streamed stages
      seen.add(stage.name);
      const row = stageRow(stage, stage.ok ? "done" : "failed");
      if (working) list.insertBefore(row, working);
      else list.append(row);
    },
    failed(label) {
      if (working) working.remove();
      working = null;
      list.append(stageRow({ name: "failed", label }, "failed"));
    },
    finish() {
      if (working) working.remove();
      working = null;
    },
  };
}

export async function renderPersonalizing(view, params, { navigate }) {
  const choices = store.onboarding;
  if (!choices) {
    navigate("onboarding");
    return;
  }
  const { userId } = getSession();
  const stages = stageList();
  const notes = h("div", { class: "personalizing-notes" });
  const fingerprint = h("div", { class: "fingerprint" });
  const footer = h("div", { class: "personalizing-footer" });
  view.append(h("section", { class: "personalizing" },
    h("header", { class: "page-head center" },
      h("p", { class: "eyebrow" }, "Step 2 of 2"),
      h("h1", {}, "Personalizing"),
      h("p", { class: "muted" }, [`${choices.movies.length} movies`, `${choices.vibes.length} vibes`,
        choices.freeText ? "your words" : null].filter(Boolean).join(" · "))),
    h("div", { class: "panel personalizing-panel" }, stages.list, notes, fingerprint, footer)));

  const fail = (label, error) => {
    stages.failed(label);
    footer.replaceChildren(errorBox(error, () => navigate("personalizing")),
      h("button", { class: "btn btn-ghost", type: "button", onclick: () => navigate("onboarding") }, "Back to onboarding"));
  };

  stages.working("Sending your picks and vibes…");
  let generated;
  try {
    generated = await generateEmbedding(userId, choices.movies.map((m) => m.movieId), choices.vibes, choices.freeText,
      (raw) => {
        stages.done(normaliseStage(raw));
        stages.working("Working…");
      });
  } catch (error) {
    fail("Personalizing stopped", error);
    return;
  }
  for (const raw of generated.stages || []) stages.done(normaliseStage(raw));
  noteProfileVersion(generated);
  if ((generated.unknownMovies || []).length) {
    notes.append(h("p", { class: "muted small" }, `Skipped ${generated.unknownMovies.length} movie(s) the catalog does not know.`));
  }
  if (Array.isArray(generated.embedding) && generated.embedding.length) {
    fingerprint.append(h("p", { class: "muted small" }, `Your taste fingerprint · ${generated.embedding.length} dimensions`),
      vectorStrip(generated.embedding));
  }

  stages.working("Arranging your carousels…");
  const started = performance.now();
  let recommendations;
  try {
    recommendations = await getRecommendations(userId, { numResults: 10 });
  } catch (error) {
    fail("Could not arrange your carousels", error);
    return;
  }
  const carousels = (recommendations.carousels || []).filter((c) => (c.recommendations || []).length);
  const count = carousels.reduce((n, c) => n + c.recommendations.length, 0);
  stages.done({ name: "carousels", label: `Arranged ${carousels.length} carousels with ${count} picks`,
    ms: performance.now() - started, ok: true, detail: "" });
  stages.finish();
  store.firstRecommendations = recommendations;
  footer.replaceChildren(h("button", { class: "btn btn-primary", type: "button", "data-testid": "see-picks",
    onclick: () => navigate("home") }, "See my picks →"));
  await sleep(1200);
  if (location.hash.startsWith("#/personalizing")) navigate("home");
}
