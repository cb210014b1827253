// State shared between views for one page load: the onboarding choices on their way to the
// "Personalizing" view, the first recommendations it fetched, and the profile (taste) version.

export const store = {
  onboarding: null, // {movies: [{movieId, title, year}], vibes: [], freeText}
  firstRecommendations: null, // the answer of the recommendations call the Personalizing view made
  profileVersion: null,
  watchlist: null, // Set of saved movie ids, once loaded (home page, movie modal)
};

/** Tell the views the watchlist changed (the home page redraws its row). */
export function noteWatchlist(answer) {
  store.watchlist = new Set((answer.items || []).map((item) => item.movieId));
  window.dispatchEvent(new CustomEvent("movierec:watchlist-changed", { detail: answer }));
}

const VERSION_KEYS = ["profileVersion", "tasteVersion", "version"];

/** The profile version an API answer reports, if any (top level or under `profile`). */
export function profileVersionOf(answer) {
  if (!answer || typeof answer !== "object") return null;
  for (const key of VERSION_KEYS) {
    if (answer[key] !== undefined && answer[key] !== null) return Number(answer[key]);
  }
  if (answer.profile) return profileVersionOf(answer.profile);
  return null;
}

/** Remember the newest profile version seen and show it in the top bar. */
export function noteProfileVersion(answer) {
  const version = profileVersionOf(answer);
  if (version === null || Number.isNaN(version)) return null;
  store.profileVersion = version;
  const badge = document.getElementById("taste-badge");
  if (badge) {
    badge.hidden = false;
    badge.textContent = `Taste v${version}`;
    badge.dataset.version = String(version);
    badge.title = "Your taste profile version: it goes up each time your ratings or chats move your taste";
  }
  return version;
}

export function resetStore() {
  store.onboarding = null;
  store.firstRecommendations = null;
  store.profileVersion = null;
  store.watchlist = null;
  const badge = document.getElementById("taste-badge");
  if (badge) badge.hidden = true;
}
