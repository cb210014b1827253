// The signed-in user's bearer token, kept in localStorage so a reload keeps you signed in.
// The JWT's own `exp` claim decides when it is stale (the server still checks every call).

const KEY = "movierec.session";
const listeners = new Set();

function decodeJwtPayload(token) {
  try {
    const part = token.split(".")[1];
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(json);
  } catch {
    return {};
  }
}

export function getSession() {
  try {
    const session = JSON.parse(localStorage.getItem(KEY) || "null");
    if (!session || !session.token) return null;
    if (session.expiresAt && Date.now() >= session.expiresAt) {
      clearSession();
      return null;
    }
    return session;
  } catch {
    return null;
  }
}

export function saveSession({ token, userId, username }) {
  const claims = decodeJwtPayload(token);
  const session = {
    token,
    userId: String(userId ?? claims.sub ?? ""),
    username: username || claims.username || claims.name || "",
    expiresAt: claims.exp ? claims.exp * 1000 : null,
  };
  localStorage.setItem(KEY, JSON.stringify(session));
  listeners.forEach((fn) => fn(session));
  return session;
}

export function clearSession() {
  localStorage.removeItem(KEY);
  listeners.forEach((fn) => fn(null));
}

export function onSessionChange(fn) {
  listeners.add(fn);
}
