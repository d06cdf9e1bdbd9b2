// OpenClaw's own auth profile bookkeeping (2026.9.x), as a gateway runs it:
// `persistAuthProfileBatch` stores the profiles (the login path), and
// `markAuthProfileFailure` records a failed refresh in their state. Needs
// node:sqlite: run it with the Node install.sh puts beside the releases.
// OPENCLAW_STATE_DIR is the caller's.
// Usage: node profiles.mjs INSTALL_DIR STEP [PROFILE_ID:REASON ...]
//   store:    stores each profile (oauth, sentinel tokens; provider = the id's
//             prefix), then marks each failed with REASON (auth_permanent, auth, ...)
//   refresh-failed: stores each profile, then fails its refresh as a
//             gateway's turn does (embedded-agent's recordOAuthRefreshFailure):
//             REASON `reused` is OpenAI's 401 refresh_token_reused answer to
//             OpenClaw's own refreshOpenAICodexToken (fetch mocked),
//             `contention` OpenClaw's refresh_contention error; each wrapped
//             in its OAuthManagerRefreshError, logged by its logger to
//             logging.file of the state dir's openclaw.json, classified by its
//             classifyFailoverReason, and marked by markAuthProfileFailure
//   relogin:  stores each profile again with resetFailureState, as
//             `openclaw models auth login` does
// Prints one JSON line {step, profiles[, failures]}, then exits without closing
// OpenClaw's database, as a gateway that is killed: what it wrote last is
// only in the -wal.
import { loadDistFunction } from "./lockapi.mjs";

const SENTINEL = "SENTINEL-TOKEN-never-printed";

const [installDir, step, ...specs] = process.argv.slice(2);
const profiles = specs.map((spec) => {
  const at = spec.lastIndexOf(":");
  const profileId = spec.slice(0, at);
  const provider = profileId.slice(0, profileId.indexOf(":"));
  const credential = {
    type: "oauth",
    provider,
    access: `${SENTINEL}-access-${step}`,
    refresh: `${SENTINEL}-refresh-${step}`,
    expires: Date.now() + 3_600_000,
  };
  return { profileId, credential, reason: spec.slice(at + 1) };
});
const { fn: persistAuthProfileBatch } = await loadDistFunction(installDir, "persistAuthProfileBatch");
const batch = profiles.map(({ profileId, credential }) => ({ profileId, credential }));
// The store markAuthProfileFailure is given: it reads the profile from it and
// writes the failure into the persisted state.
const store = { version: 1, profiles: Object.fromEntries(batch.map((p) => [p.profileId, p.credential])) };
let failures;
if (step === "store") {
  await persistAuthProfileBatch({ profiles: batch });
  const { fn: markAuthProfileFailure } = await loadDistFunction(installDir, "markAuthProfileFailure");
  for (const { profileId, reason } of profiles) await markAuthProfileFailure({ store, profileId, reason });
} else if (step === "refresh-failed") {
  await persistAuthProfileBatch({ profiles: batch });
  failures = await failRefreshes();
} else if (step === "relogin") {
  await persistAuthProfileBatch({ profiles: batch, resetFailureState: true, allowOAuthGenerationReplacement: true });
} else {
  throw new Error(`profiles.mjs: unknown step ${step}`);
}
process.stdout.write(`${JSON.stringify({ step, profiles: profiles.map((p) => p.profileId), failures })}\n`);
process.exit(0);

// The refresh errors of `refresh-failed`, logged and marked as a gateway's
// turn does; returns each one's logged text, the reason it was marked with,
// and OpenClaw's own names for the text (the sweeper's logged_reason must be
// one of them).
async function failRefreshes() {
  const load = (name, inFile) => loadDistFunction(installDir, name, { inFile }).then((f) => f.fn);
  const OAuthManagerRefreshError = await load("OAuthManagerRefreshError");
  // The formatErrorMessage the embedded agent imports, of three by that name.
  const formatErrorMessage = await load("formatErrorMessage", "errors-");
  const classifyFailoverReason = await load("classifyFailoverReason");
  const resolveAuthProfileFailureReason = await load("resolveAuthProfileFailureReason");
  const classifyProviderRuntimeFailureKind = await load("classifyProviderRuntimeFailureKind");
  const classifyOAuthRefreshFailureReason = await load("classifyOAuthRefreshFailureReason");
  const markAuthProfileFailure = await load("markAuthProfileFailure");
  const refreshOpenAICodexToken = await load("refreshOpenAICodexToken", "openai-chatgpt-oauth-flow.runtime-");
  const log = (await load("createSubsystemLogger"))("agent/embedded");
  const out = [];
  for (const { profileId, credential, reason: kind } of profiles) {
    let cause;
    if (kind === "reused") {
      // OpenAI's answer to a refresh token already used; OpenClaw skips its
      // DNS pinning for a fetch that carries `.mock`.
      const body = { error: { message: "Your refresh token has already been used to generate a new access token. Please try signing in again.", type: "invalid_request_error", param: null, code: "refresh_token_reused" } };
      const mocked = async () => new Response(JSON.stringify(body), { status: 401, headers: { "content-type": "application/json" } });
      mocked.mock = { calls: [] };
      const realFetch = globalThis.fetch;
      globalThis.fetch = mocked;
      try {
        await refreshOpenAICodexToken(credential.refresh);
        throw new Error("refreshOpenAICodexToken: a 401 did not fail");
      } catch (err) {
        cause = err;
      } finally {
        globalThis.fetch = realFetch;
      }
    } else if (kind === "contention") {
      // buildRefreshContentionError's text and code (it is not exported).
      cause = Object.assign(new Error(`OAuth refresh failed (refresh_contention): another process is already refreshing ${credential.provider} for ${profileId}. Please wait for the in-flight refresh to finish and retry.`), { code: "refresh_contention" });
    } else {
      throw new Error(`profiles.mjs: unknown refresh failure ${kind}`);
    }
    const error = new OAuthManagerRefreshError({ credential, profileId, refreshedStore: store, cause });
    const text = formatErrorMessage(error);
    log.warn(`auth profile "${profileId}" failed for provider "${credential.provider}": ${text}`);
    const reason = resolveAuthProfileFailureReason({ failoverReason: classifyFailoverReason(text, { provider: credential.provider }) ?? "auth" });
    await markAuthProfileFailure({ store, profileId, reason });
    out.push({ profileId, text, reason, kind: classifyProviderRuntimeFailureKind({ message: text }), oauthReason: classifyOAuthRefreshFailureReason(text) });
  }
  await (await load("flushLogger"))();
  return out;
}
